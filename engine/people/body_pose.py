"""A person's body pose from MediaPipe's BlazePose (GHUM, full) landmark model, run in torch.

The crop follows MediaPipe's pose graph: a square around the hips' midpoint, 2.5× the distance from
there to the top of the body circle, turned so the body stands upright. No body detector is run: the
first crop is placed from the face (the hips about :data:`HIPS_BELOW_FACE` face heights below it), the
second from the model's own alignment points, as MediaPipe's tracking does (kept unless the model is
less sure of it: a person cut by the frame's edge can lose the second crop). A pose whose nose is not
on the face it started from belongs to someone else and is refused.

Positions are image pixels (pixel ``i`` covers ``[i, i+1)``); ``world`` is metres, origin between the
hips, z away from the camera (larger = farther).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..faces.crop import Region, crop
from ..faces.landmarks import FaceLandmarks
from ..mediapipe import POSE_LANDMARK, get_model, installed, model_path

SIDE = 256  # the model's input, RGB 0..1
HIPS_BELOW_FACE = 3.2  # first crop: hips this many face heights below the face's centre
BODY_RADIUS_FACES = 4.0  # and the body circle's radius in face heights
ROI_SCALE = 1.25  # MediaPipe's pose crop: 2 × radius × this
POSE_FLAG = 0.5  # the model's pose presence needed
NOSE_ON_FACE = 0.5  # the pose's nose within this many face widths of the mesh's nose tip
EYES = (2, 5)  # BlazePose indices of the eyes
NOSE, MESH_NOSE_TIP = 0, 1


@dataclass(frozen=True)
class BodyPose:
    points: torch.Tensor  # [33,2] image px (BlazePose's 33 landmarks)
    visibility: torch.Tensor  # [33] 0..1: seen (not hidden) in the photo
    world: torch.Tensor  # [33,3] metres, origin between the hips, z away from the camera
    score: float  # the model's pose presence 0..1
    body: torch.Tensor  # [H,W] 0..1: the model's segmentation of the body (what it holds excluded)

    def behind_eyes_m(self) -> torch.Tensor:
        """``[33]`` metres each landmark lies behind the eyes (negative: nearer the camera)."""
        return self.world[:, 2] - self.world[list(EYES), 2].mean()


def _run(image: torch.Tensor, region: Region) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float, torch.Tensor]:
    net = get_model(POSE_LANDMARK, image.device)
    out = net(crop(image, region, SIDE, SIDE, border="zero"))
    lm = out["Identity"].reshape(39, 5).float().cpu()
    points = region.to_image(lm[:, :2], SIDE, SIDE)
    visibility = torch.sigmoid(lm[:, 3])
    world = out["Identity_4"].reshape(39, 3).float().cpu()
    score = float(out["Identity_1"].reshape(()))
    seg = out["Identity_2"].reshape(1, 1, SIDE, SIDE).float()
    return points, visibility, world, score, seg


def _region(hips: torch.Tensor, top: torch.Tensor) -> Region:
    """MediaPipe's pose crop from the hips' midpoint and the top of the body circle (pixels)."""
    d = top - hips
    angle = math.pi / 2 - math.atan2(-float(d[1]), float(d[0]))
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    side = 2 * float(d.norm()) * ROI_SCALE
    return Region(float(hips[0]), float(hips[1]), side, side, angle)


def _to_image(seg: torch.Tensor, region: Region, height: int, width: int) -> torch.Tensor:
    """The crop's segmentation logits ``[1,1,S,S]`` as body probability ``[height,width]``."""
    dev = seg.device
    ys, xs = torch.meshgrid(
        torch.arange(height, device=dev, dtype=torch.float32) + 0.5,
        torch.arange(width, device=dev, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    c, n = math.cos(region.angle), math.sin(region.angle)
    dx, dy = xs - region.cx, ys - region.cy
    s = (dx * c + dy * n) / region.w
    t = (-dx * n + dy * c) / region.h
    grid = torch.stack([2 * s, 2 * t], -1)[None]
    logits = F.grid_sample(seg, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, 0]
    return torch.sigmoid(logits)


def missing_model() -> str | None:
    """Why no pose can be found at all (the model file is not installed), None when it is."""
    if installed(POSE_LANDMARK):
        return None
    return (
        f"pose model not installed ({model_path(POSE_LANDMARK).name} ships with the pack in models/mediapipe/: "
        "reinstall the pack)"
    )


@torch.no_grad()
def body_pose(image: torch.Tensor, face: FaceLandmarks) -> Optional[BodyPose]:
    """The pose of the person whose face is ``face`` in ``image [H,W,3]`` 0..1; None when the model
    finds no pose there, the pose it finds is someone else's or the model is not installed
    (:func:`missing_model`)."""
    H, W, _ = image.shape
    if not installed(POSE_LANDMARK):
        return None
    eyes = face.eye_centres
    roll = math.atan2(float(eyes[1, 1] - eyes[0, 1]), float(eyes[1, 0] - eyes[0, 0]))
    lo, hi = face.mesh[:, :2].min(0).values, face.mesh[:, :2].max(0).values
    centre, fh, fw = (lo + hi) / 2, float(hi[1] - lo[1]), float(hi[0] - lo[0])
    down = torch.tensor([-math.sin(roll), math.cos(roll)])
    hips = centre + HIPS_BELOW_FACE * fh * down
    region = _region(hips, hips - BODY_RADIUS_FACES * fh * down)
    first = _run(image, region)
    points, visibility, world, score, seg = first
    if score >= POSE_FLAG:  # once more from the model's own alignment points (hips, body circle)
        second_region = _region(points[33], points[34])
        second = _run(image, second_region)
        if second[3] >= score:  # the second crop is kept unless the model is less sure there
            region, (points, visibility, world, score, seg) = second_region, second
    if score < POSE_FLAG:
        return None
    if float((points[NOSE] - face.mesh[MESH_NOSE_TIP, :2]).norm()) > NOSE_ON_FACE * max(fw, 1.0):
        return None
    return BodyPose(points[:33], visibility[:33], world[:33], score, _to_image(seg, region, H, W))
