"""Face landmarks with MediaPipe's models run in torch: BlazeFace (short range) finds faces, the
468-point face mesh places the face's surface (x, y and relative depth z), the iris model places
both irises. Follows MediaPipe's face and iris graphs (crops, decoding, weighted NMS), for one photo.

Input: IMAGE ``[H,W,3]`` float 0..1 (any device). Output positions are image pixels (continuous,
pixel ``i`` covers ``[i, i+1)``); mesh z is in image pixels too (scaled like x), smaller = nearer,
origin near the head's centre. "Left"/"right" mean image-left/right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Optional

import torch
import torch.nn.functional as F

from ..mediapipe import FACE_DETECTION, FACE_LANDMARK, IRIS_LANDMARK, get_model
from .crop import Region, crop

DETECTION_SCORE = 0.5
NMS_IOU = 0.3
MESH_PRESENCE = 0.5
FACE_ROI_SCALE = 1.5
IRIS_ROI_SCALE = 2.3
# mesh indices of the eye corners (outer, inner) for the image-left and image-right eye
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_CORNERS = (362, 263)


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 px
    keypoints: torch.Tensor  # [6,2] px: eye (image-left), eye (image-right), nose tip, mouth, ear, ear
    score: float


@dataclass(frozen=True)
class FaceLandmarks:
    detection: Detection
    mesh: torch.Tensor  # [468,3] px (x, y, z)
    mesh_score: float
    irises: Optional[torch.Tensor]  # [2,5,3] px, per eye: centre, right, top, left, bottom edge
    eye_contours: Optional[torch.Tensor]  # [2,71,3] px

    @property
    def eye_centres(self) -> torch.Tensor:
        """``[2,2]`` px: iris centres, or the mean of each eye's corners without irises."""
        if self.irises is not None:
            return self.irises[:, 0, :2]
        m = self.mesh
        return torch.stack([m[list(LEFT_EYE_CORNERS), :2].mean(0), m[list(RIGHT_EYE_CORNERS), :2].mean(0)])

    @property
    def iris_diameters_px(self) -> Optional[torch.Tensor]:
        """``[2]`` px per eye: the mean of the horizontal and vertical edge-to-edge distances."""
        if self.irises is None:
            return None
        e = self.irises[:, 1:, :2]
        horizontal = (e[:, 0] - e[:, 2]).norm(dim=-1)
        vertical = (e[:, 1] - e[:, 3]).norm(dim=-1)
        return 0.5 * (horizontal + vertical)

    @property
    def interpupillary_px(self) -> float:
        c = self.eye_centres
        return float((c[1] - c[0]).norm())

    @property
    def eyes_facing(self) -> float:
        """How squarely the eyes face the camera: the cosine (0.5..1) of the angle between the line
        through them and the image plane, from the mesh's eye corners in 3D (its z is scaled like x). A
        turned head foreshortens the eyes' spacing in the picture by this factor."""
        m = self.mesh
        d = m[list(RIGHT_EYE_CORNERS)].mean(0) - m[list(LEFT_EYE_CORNERS)].mean(0)
        return float((d[:2].norm() / d.norm().clamp_min(1e-6)).clamp(0.5, 1.0))


@cache
def _anchors() -> torch.Tensor:
    """BlazeFace short-range anchor centres ``[896,2]`` (x, y) in 0..1: 16×16×2 then 8×8×6."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        c = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        xy = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
        out.append(xy.repeat_interleave(per_cell, 0))
    return torch.cat(out)


@torch.no_grad()
def detect_faces(image: torch.Tensor, min_score: float = DETECTION_SCORE) -> list[Detection]:
    """Faces in ``image [H,W,3]`` 0..1, best score first (the whole frame letterboxed to 128×128)."""
    H, W, _ = image.shape
    side = float(max(H, W))
    region = Region(W / 2, H / 2, side, side)
    x = crop(image, region, 128, 128, border="zero") * 2 - 1
    out = get_model(FACE_DETECTION, image.device)(x)
    return [_to_image(box, kp, s, region) for box, kp, s in _decode(out, 0, min_score)]


def _decode(out: dict[str, torch.Tensor], b: int, min_score: float) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """BlazeFace's output for batch item ``b``, decoded and merged (weighted NMS): ``(box [4] x0 y0 x1 y1,
    keypoints [6,2], score)`` in 0..1 of the model's input square, best score first."""
    reg = out["regressors"][b].float().cpu()
    logit = out["classificators"][b, :, 0].float().cpu()
    score = torch.sigmoid(logit.clamp(-100, 100))
    keep = score >= min_score
    if not bool(keep.any()):
        return []
    a = _anchors()[keep]
    r, s = reg[keep] / 128.0, score[keep]
    centre = r[:, :2] + a
    half = r[:, 2:4] / 2
    boxes = torch.cat([centre - half, centre + half], 1)  # x0 y0 x1 y1, 0..1 of the input
    kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None]
    found = []
    order = torch.argsort(s, descending=True)
    remaining = order.tolist()
    while remaining:
        best = remaining[0]
        iou = _iou(boxes[best], boxes[remaining])
        cluster = [remaining[i] for i in range(len(remaining)) if float(iou[i]) > NMS_IOU]
        remaining = [i for i in remaining if i not in cluster]
        w = s[cluster][:, None]
        box = (boxes[cluster] * w).sum(0) / w.sum()
        kp = (kps[cluster] * w[:, :, None]).sum(0) / w.sum()
        found.append((box, kp, float(s[best])))
    return found


def _to_image(box: torch.Tensor, kp: torch.Tensor, score: float, region: Region, scale: float = 1.0) -> Detection:
    """A detection in 0..1 of the (axis-aligned, square) ``region``'s input, in image pixels; ``region``
    is in the pixels of an image ``scale`` times smaller than the one the detection is for."""
    side = region.w
    box = ((box - 0.5) * side + torch.tensor([region.cx, region.cy, region.cx, region.cy])) * scale
    kp = ((kp - 0.5) * side + torch.tensor([region.cx, region.cy])) * scale
    x0, y0, x1, y1 = (float(v) for v in box)
    return Detection((x0, y0, x1, y1), kp, score)


TILE_FRACTION = 0.5  # tiles for small faces: squares of this share of the shorter side, overlapping by half
TILE_EDGE = 0.01  # a tile's detection this close to a tile edge inside the frame is a cut face (dropped)
SAME_FACE = 0.3  # detections overlapping by more than this IoU (or mostly contained) are one face
MAX_FACES = 16  # most faces looked at (largest first)
TILE_MIN_CELLS = 4  # a tile is looked at when it holds this many cells of where faces may still be


@torch.no_grad()
def detect_all_faces(image: torch.Tensor, min_score: float = DETECTION_SCORE) -> list[Detection]:
    """Every face in ``image [H,W,3]`` 0..1, largest first (at most :data:`MAX_FACES`): the whole frame
    (:func:`detect_faces`, large faces) and every tile (:func:`detect_faces_in_tiles`, small ones),
    the same face found twice kept once (the best score)."""
    return merge_detections(detect_faces(image, min_score) + detect_faces_in_tiles(image, None, min_score))


def merge_detections(found: list[Detection]) -> list[Detection]:
    """One detection per face (the best score wins), largest first, at most :data:`MAX_FACES`."""
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if all(not same_face(d.box, k.box) for k in kept):
            kept.append(d)
    kept.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return kept[:MAX_FACES]


@torch.no_grad()
def detect_faces_in_tiles(
    image: torch.Tensor, where: Optional[torch.Tensor] = None, min_score: float = DETECTION_SCORE
) -> list[Detection]:
    """Faces in overlapping square tiles of half the shorter side of ``image [H,W,3]`` 0..1 (faces down
    to about 1/20 of the shorter side, as in a group photo, too small for the whole frame), cut from one
    copy of the frame resized so that a tile is the detector's 128 px, run as one batch. A face under a
    quarter of the shorter side is whole in some tile; a detection cut by its tile's edge is dropped.
    ``where`` (bool ``[gh,gw]`` over the frame stretched to any grid) limits the tiles to those holding
    at least :data:`TILE_MIN_CELLS` of its cells (none: no tiles)."""
    H, W, _ = image.shape
    side = TILE_FRACTION * min(H, W)
    if side < 128:  # small frames: the whole frame already sees faces at the tiles' scale
        return []
    s = 128 / side
    h, w = max(128, round(H * s)), max(128, round(W * s))
    starts = [(y0, x0) for y0 in _tile_starts(h) for x0 in _tile_starts(w)]
    if where is not None:
        gh, gw = where.shape
        cells = where.float().cpu()
        wanted = []
        for y0, x0 in starts:
            i0, i1 = int(y0 * gh / h), max(int(y0 * gh / h) + 1, round((y0 + 128) * gh / h))
            j0, j1 = int(x0 * gw / w), max(int(x0 * gw / w) + 1, round((x0 + 128) * gw / w))
            if float(cells[i0:i1, j0:j1].sum()) >= TILE_MIN_CELLS:
                wanted.append((y0, x0))
        starts = wanted
    if not starts:
        return []
    small = F.interpolate(
        image.permute(2, 0, 1)[None].float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False
    )[0].permute(1, 2, 0)
    batch = torch.stack([small[y0 : y0 + 128, x0 : x0 + 128] for y0, x0 in starts]) * 2 - 1
    out = get_model(FACE_DETECTION, image.device)(batch)
    sx, sy = W / w, H / h  # tile pixels -> image pixels
    found = []
    for b, (y0, x0) in enumerate(starts):
        inner = (x0 > 0, y0 > 0, x0 + 128 < w, y0 + 128 < h)
        for box, kp, score in _decode(out, b, min_score):
            cut = (box[0] < TILE_EDGE, box[1] < TILE_EDGE, box[2] > 1 - TILE_EDGE, box[3] > 1 - TILE_EDGE)
            if any(c and i for c, i in zip(cut, inner)):
                continue
            x = (box[0::2] * 128 + x0) * sx
            y = (box[1::2] * 128 + y0) * sy
            k = torch.stack([(kp[:, 0] * 128 + x0) * sx, (kp[:, 1] * 128 + y0) * sy], 1)
            found.append(Detection((float(x[0]), float(y[0]), float(x[1]), float(y[1])), k, score))
    return found


def _tile_starts(n: int, side: int = 128) -> list[int]:
    """Whole-pixel starts of tiles of ``side`` covering ``0..n`` with at least half a tile of overlap."""
    if side >= n:
        return [0]
    count = math.ceil((n - side) / (side / 2)) + 1
    return [round((n - side) * i / (count - 1)) for i in range(count)]


def same_face(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two boxes (x0, y0, x1, y1) are one face: IoU above :data:`SAME_FACE`, or the smaller
    mostly inside the larger."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    small = max(min(area_a, area_b), 1e-9)
    return inter / max(area_a + area_b - inter, 1e-9) > SAME_FACE or inter / small > 0.6


def _iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    inter = (rb - lt).clamp_min(0).prod(1)
    area = lambda b: (b[..., 2] - b[..., 0]).clamp_min(0) * (b[..., 3] - b[..., 1]).clamp_min(0)  # noqa: E731
    return inter / (area(box) + area(boxes) - inter).clamp_min(1e-12)


def _mesh(image: torch.Tensor, region: Region) -> tuple[torch.Tensor, float]:
    net = get_model(FACE_LANDMARK, image.device)
    out = net(crop(image, region, 192, 192))
    pts = out["conv2d_21"].reshape(468, 3).float().cpu()
    presence = float(torch.sigmoid(out["conv2d_31"].reshape(())))
    return region.to_image(pts, 192, 192), presence


def _roi_from_mesh(mesh: torch.Tensor) -> Region:
    a, b = mesh[LEFT_EYE_CORNERS[0], :2], mesh[RIGHT_EYE_CORNERS[1], :2]
    angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    # box of the landmarks in the rotated frame
    c, n = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, n], [-n, c]])
    p = mesh[:, :2] @ rot.T
    lo, hi = p.min(0).values, p.max(0).values
    centre = ((lo + hi) / 2) @ rot
    side = float((hi - lo).max()) * FACE_ROI_SCALE
    return Region(float(centre[0]), float(centre[1]), side, side, angle)


def _iris(image: torch.Tensor, mesh: torch.Tensor, corners: tuple[int, int], flip: bool):
    a, b = mesh[corners[0], :2], mesh[corners[1], :2]
    if float(b[0]) < float(a[0]):
        a, b = b, a
    angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    side = float((b - a).norm()) * IRIS_ROI_SCALE
    centre = (a + b) / 2
    region = Region(float(centre[0]), float(centre[1]), side, side, angle, flip=flip)
    net = get_model(IRIS_LANDMARK, image.device)
    out = net(crop(image, region, 64, 64))
    contour = region.to_image(out["output_eyes_contours_and_brows"].reshape(71, 3).float().cpu(), 64, 64)
    iris = region.to_image(out["output_iris"].reshape(5, 3).float().cpu(), 64, 64)
    if flip:  # mirrored crop: the model's "right" and "left" edge points swap back
        iris = iris[[0, 3, 2, 1, 4]]
    return iris, contour


@torch.no_grad()
def face_landmarks(image: torch.Tensor, detection: Optional[Detection] = None) -> Optional[FaceLandmarks]:
    """Mesh and irises of the largest face found in ``image [H,W,3]`` 0..1 (or of ``detection``);
    None when no face is found or the mesh model rejects it."""
    if detection is None:
        dets = detect_faces(image)
        if not dets:
            return None
        detection = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    x0, y0, x1, y1 = detection.box
    k = detection.keypoints
    angle = math.atan2(float(k[1, 1] - k[0, 1]), float(k[1, 0] - k[0, 0]))
    side = max(x1 - x0, y1 - y0) * FACE_ROI_SCALE
    mesh, presence = _mesh(image, Region((x0 + x1) / 2, (y0 + y1) / 2, side, side, angle))
    if presence < MESH_PRESENCE:
        return None
    # a second pass from the mesh's own frame (as MediaPipe's tracking does) centres the face better
    mesh2, presence2 = _mesh(image, _roi_from_mesh(mesh))
    if presence2 >= MESH_PRESENCE:
        mesh, presence = mesh2, presence2
    left, lc = _iris(image, mesh, LEFT_EYE_CORNERS, flip=False)
    right, rc = _iris(image, mesh, RIGHT_EYE_CORNERS, flip=True)
    return FaceLandmarks(detection, mesh, presence, torch.stack([left, right]), torch.stack([lc, rc]))
