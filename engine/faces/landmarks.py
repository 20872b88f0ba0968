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
TILE_INPUT = 192  # the frame is averaged down once so that a tile spans about this many pixels
TILE_EDGE = 0.01  # a tile's detection this close to a tile edge inside the frame is a cut face (dropped)
SAME_FACE = 0.3  # detections overlapping by more than this IoU (or mostly contained) are one face
MAX_FACES = 16  # most faces looked at (largest first)


@torch.no_grad()
def detect_all_faces(image: torch.Tensor, min_score: float = DETECTION_SCORE) -> list[Detection]:
    """Every face in ``image [H,W,3]`` 0..1, largest first (at most :data:`MAX_FACES`): the whole frame
    letterboxed (large faces) and overlapping square tiles of half the shorter side (faces down to about
    1/20 of the shorter side, as in a group photo), run as one batch on a copy averaged down to the tiles'
    input scale. A face is found whole in some tile when it is under a quarter of the shorter side; a
    tile's detection cut by the tile's edge is dropped, the same face from several inputs is kept once
    (the best score)."""
    H, W, _ = image.shape
    found = detect_faces(image, min_score)
    side = TILE_FRACTION * min(H, W)
    f = max(1, int(side / TILE_INPUT))
    small = image
    if f > 1:
        hh, ww = H // f * f, W // f * f
        small = F.avg_pool2d(image[:hh, :ww].permute(2, 0, 1)[None].float(), f)[0].permute(1, 2, 0)
    h, w = small.shape[0], small.shape[1]
    s_side = side / f
    regions = [
        Region(x0 + s_side / 2, y0 + s_side / 2, s_side, s_side)
        for y0 in _tile_starts(h, s_side)
        for x0 in _tile_starts(w, s_side)
    ]
    if len(regions) > 1:
        batch = torch.cat([crop(small, r, 128, 128) for r in regions]) * 2 - 1
        out = get_model(FACE_DETECTION, image.device)(batch)
        for b, r in enumerate(regions):
            inner = (r.cx - r.w / 2 > 0.5, r.cy - r.h / 2 > 0.5, r.cx + r.w / 2 < w - 0.5, r.cy + r.h / 2 < h - 0.5)
            for box, kp, s in _decode(out, b, min_score):
                x0, y0, x1, y1 = box.tolist()
                cut = (x0 < TILE_EDGE, y0 < TILE_EDGE, x1 > 1 - TILE_EDGE, y1 > 1 - TILE_EDGE)
                if any(c and i for c, i in zip(cut, inner)):
                    continue
                found.append(_to_image(box, kp, s, r, float(f)))
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if all(not _same_face(d.box, k.box) for k in kept):
            kept.append(d)
    kept.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return kept[:MAX_FACES]


def _tile_starts(n: int, side: float) -> list[float]:
    """Starts of tiles of ``side`` covering ``0..n`` with at least half a tile of overlap."""
    if side >= n:
        return [0.0]
    count = math.ceil((n - side) / (side / 2)) + 1
    return [(n - side) * i / (count - 1) for i in range(count)]


def _same_face(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
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
