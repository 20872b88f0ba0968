"""Which of several photos of one person to take as the face reference (keep face's kept face, InstantID's
keypoint image): the most frontal, sharpest, best-lit one. Plain torch.

Per photo, on its face box:

* **yaw** (degrees) from the five keypoints (eyes, nose, mouth corners; :func:`pose_from_kps`): the nose's
  offset from the eyes' midpoint across the eye distance. 0 = frontal. Without keypoints (a detector that
  gives only a box) the yaw is unknown and counts as frontal.
* **sharpness**: the variance of the Laplacian of the face crop's luma divided by its mean (so that a dark
  photo's lower contrast is counted once, by the luminance), the crop resampled to :data:`CROP` px on its
  longer side first, so that photos of different resolutions compare.
* **luminance**: the face crop's mean luma (Rec. 709 weights on the 0..1 values), best near :data:`MID`.

Score (higher is better, 0..1): ``cos(yaw) × min(1, sharpness / sharpest) × (1 − 2·|luminance − MID|)``
(``sharpest`` the best sharpness among the photos compared), so a turned, blurred or dark/burnt face loses
against a frontal, sharp, mid-lit one of the same person.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..faces.records import pose_from_kps

CROP = 128  # px, longer side of the face crop the sharpness is measured on
MID = 0.5  # the luma a well-lit face is best near
LUMA = (0.2126, 0.7152, 0.0722)
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class FaceQuality:
    """One photo's face: ``yaw`` degrees (None: no keypoints), ``sharpness`` (variance of the Laplacian of
    the luma relative to its mean, dimensionless), ``luminance`` (mean luma 0..1)."""

    yaw: Optional[float]
    sharpness: float
    luminance: float

    def summary(self) -> str:
        yaw = "yaw ?" if self.yaw is None else f"yaw {self.yaw:+.0f}°"
        return f"{yaw}, sharpness {self.sharpness:.2e}, luminance {self.luminance:.2f}"


@dataclass(frozen=True)
class PhotoChoice:
    """The chosen photo's ``index``, every photo's ``quality`` and ``scores`` (None: no face found in it)."""

    index: int
    quality: list[Optional[FaceQuality]]
    scores: list[Optional[float]]

    def describe(self, what: str = "photo") -> str:
        """One line: which was taken and why, e.g. ``photo 3 of 3 (yaw +2°, …; score 0.91; photo 1: 0.40, …)``."""
        n = len(self.scores)
        chosen = self.quality[self.index]
        assert chosen is not None
        others = ", ".join(
            f"{what} {i + 1}: " + ("no face" if s is None else f"{s:.2f}")
            for i, s in enumerate(self.scores)
            if i != self.index
        )
        return (
            f"{what} {self.index + 1} of {n} ({chosen.summary()}; score {self.scores[self.index]:.2f}"
            + (f"; {others}" if others else "")
            + ")"
        )


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    """``[H,W,3]`` 0..1 → ``[H,W]``."""
    w = torch.tensor(LUMA, dtype=torch.float32)
    return (rgb[..., :3].float() * w).sum(-1)


def face_crop(rgb: torch.Tensor, box: Sequence[float]) -> torch.Tensor:
    """The luma of ``rgb`` ``[H,W,3]`` (0..1) inside ``box`` (x0, y0, x1, y1 px, clamped to the photo),
    resampled (area) to :data:`CROP` px on its longer side: ``[h,w]``."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    x0, x1 = int(max(0, math.floor(x0))), int(min(w, math.ceil(x1)))
    y0, y1 = int(max(0, math.floor(y0))), int(min(h, math.ceil(y1)))
    if x1 - x0 < 3 or y1 - y0 < 3:
        raise ValueError(f"face box {tuple(box)} is outside the {w}×{h} photo or under 3 px")
    crop = _luma(rgb[y0:y1, x0:x1])
    scale = CROP / max(crop.shape)
    size = (max(3, round(crop.shape[0] * scale)), max(3, round(crop.shape[1] * scale)))
    mode = "area" if scale < 1 else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(crop[None, None], size=size, mode=mode, **kw)[0, 0]


def face_quality(rgb: torch.Tensor, box: Sequence[float], kps: Optional[torch.Tensor] = None) -> FaceQuality:
    """:class:`FaceQuality` of the face in ``box`` of ``rgb`` ``[H,W,3]`` (0..1), with its keypoints
    ``kps`` ``[5,2]`` (px) when the detector gave them."""
    crop = face_crop(rgb, box)
    mean = float(crop.mean())
    lap = F.conv2d((crop / max(mean, 1e-3))[None, None], _LAPLACIAN[None, None])[0, 0]
    yaw = None if kps is None else float(pose_from_kps(torch.as_tensor(kps, dtype=torch.float32))[0])
    return FaceQuality(yaw, float(lap.var()), mean)


def scores(quality: Sequence[Optional[FaceQuality]]) -> list[Optional[float]]:
    """Each face's score (module docstring) against the others; None stays None."""
    found = [q for q in quality if q is not None]
    if not found:
        return [None for _ in quality]
    sharpest = max(q.sharpness for q in found) or 1.0
    out: list[Optional[float]] = []
    for q in quality:
        if q is None:
            out.append(None)
            continue
        frontal = 1.0 if q.yaw is None else max(0.0, math.cos(math.radians(q.yaw)))
        sharp = min(1.0, q.sharpness / sharpest)
        lit = max(0.0, 1.0 - 2.0 * abs(q.luminance - MID))
        out.append(frontal * sharp * lit)
    return out


def choose(quality: Sequence[Optional[FaceQuality]]) -> PhotoChoice:
    """The best-scoring photo (the first of equal ones); ValueError when no photo has a face."""
    s = scores(quality)
    valid = [i for i, v in enumerate(s) if v is not None]
    if not valid:
        raise ValueError("no face in any of the photos")
    best = max(valid, key=lambda i: (s[i], -i))
    return PhotoChoice(best, list(quality), s)


def choose_photo(
    photos: Sequence[torch.Tensor],
    boxes: Sequence[Optional[Sequence[float]]],
    kps: Sequence[Optional[torch.Tensor]],
) -> PhotoChoice:
    """:func:`choose` over ``photos`` (each ``[H,W,3]`` 0..1) with their face ``boxes`` (None: no face found)
    and keypoints ``kps`` (``[5,2]`` px, or None)."""
    if not (len(photos) == len(boxes) == len(kps)):
        raise ValueError(f"{len(photos)} photos, {len(boxes)} boxes and {len(kps)} keypoint sets")
    quality = [None if b is None else face_quality(p, b, k) for p, b, k in zip(photos, boxes, kps)]
    return choose(quality)


def choose_identity_face(tensors: dict[str, torch.Tensor]) -> PhotoChoice:
    """The best of an identity's source faces, from what the identity stores: the aligned 224 px crops
    (``crop_224`` ``[N,224,224,3]`` uint8, the whole crop taken as the face) and ``kps`` ``[N,5,2]``
    (source-photo px; the yaw does not depend on the frame)."""
    crops = tensors["crop_224"].float() / 255
    n = crops.shape[0]
    box = (0.0, 0.0, float(crops.shape[2]), float(crops.shape[1]))
    quality: list[Optional[FaceQuality]] = [face_quality(crops[i], box, tensors["kps"][i]) for i in range(n)]
    return choose(quality)
