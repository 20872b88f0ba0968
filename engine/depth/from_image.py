"""Metric depth from a depth picture made elsewhere (Depth Anything V2, MiDaS / controlnet_aux, ZoeDepth
previews): relative values 0..1 turned into metres.

Most depth nodes output relative *disparity* (1/distance up to an unknown scale and shift) drawn with
near = bright. Two ways to give it metres, as DepthEstimate does:

- ``near/far``: the brightest value (nearest) is ``near_m`` and the darkest (farthest) ``far_m``,
  interpolated in disparity (or in distance, for a map that encodes distance linearly);
- ``face``: the subject (the face's box in the photo) sits at the distance the face's size gives
  (or a given one) and the far background (5th percentile of what is outside the subject) at
  ``far_m``; the same two-anchor fit DepthEstimate uses for relative networks.

Values ``[B,H,W]`` 0..1; depth out ``[B,H,W]`` metres float32.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..core.batch import common_batch
from ..core.camera import DEFAULT_FOCAL_LENGTH_MM, DEFAULT_SENSOR, pixels_per_mm
from ..core.colour import to_uint8_rgb
from ..core.finite import finite_depth_picture, finite_pixels
from ..core.progress import Progress
from ..core.sampling import strided_sample
from ..faces.detection import distance_from_face, eye_positions_normalised, find_faces_scaled
from ..faces.distance import distance_from_eyes
from ..people.face_finding import find_face
from .calibration import calibrate_disparity
from .depth_map import CALIBRATED, MIN_DEPTH_M, DepthMap
from .matte import subject_weight_from_depth
from .portrait_prior import DEFAULT_SUBJECT_M

DISPARITY = "disparity"  # value ∝ 1/distance (Depth Anything, MiDaS, controlnet_aux depth)
DISTANCE = "distance"  # value ∝ distance
ENCODINGS = (DISPARITY, DISTANCE)
NEAR_FAR = "near/far distances"
FACE = "face"
CALIBRATIONS = (FACE, NEAR_FAR)


@dataclass(frozen=True)
class ImageDepthSettings:
    encoding: str = DISPARITY
    near_is_bright: bool = True
    calibration: str = FACE
    near_m: float = 0.0  # NEAR_FAR: distance of the nearest value; FACE: subject distance (0 = from the face)
    far_m: float = 6.0  # the far plane (both calibrations)
    focal_length_mm: float = DEFAULT_FOCAL_LENGTH_MM
    sensor: str = DEFAULT_SENSOR


def depth_values(picture: torch.Tensor) -> torch.Tensor:
    """A depth picture as values ``[B,H,W]`` float32 0..1: a MASK ``[B,H,W]`` (or ``[H,W]``) as it is,
    an IMAGE ``[B,H,W,C]`` by the mean of its colour channels (grey maps have equal channels)."""
    if picture.dim() == 2:
        picture = picture.unsqueeze(0)
    if picture.dim() == 4:
        c = picture.shape[-1]
        picture = picture[..., : min(c, 3)].float().mean(-1)
    if picture.dim() != 3:
        raise ValueError(f"depth picture must be an IMAGE [B,H,W,C] or a MASK [B,H,W], got {tuple(picture.shape)}")
    return picture.float().clamp(0, 1)


def nearness(values: torch.Tensor, near_is_bright: bool) -> torch.Tensor:
    """Values with near = 1 and far = 0, whatever the picture's convention."""
    return values if near_is_bright else 1.0 - values


def from_near_far(v: torch.Tensor, encoding: str, near_m: float, far_m: float) -> tuple[torch.Tensor, dict]:
    """Metres ``[H,W]`` from nearness ``v [H,W]``: its maximum is ``near_m``, its minimum ``far_m``,
    linear in disparity (``DISPARITY``) or in distance (``DISTANCE``) in between."""
    lo, hi = float(v.min()), float(v.max())
    t = (v - lo) / max(hi - lo, 1e-12)
    if encoding == DISPARITY:
        depth = 1.0 / (1.0 / far_m + t * (1.0 / near_m - 1.0 / far_m))
    else:
        depth = far_m - t * (far_m - near_m)
    fit = {"fit": f"{encoding} linear between near and far", "value_near": hi, "value_far": lo}
    return depth, fit


def _fit_distance(
    v: torch.Tensor, subject: torch.Tensor, subject_m: float, far_m: float
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Distance = a·(1−v) + b from two anchors: subject median → ``subject_m``, far 5th percentile → ``far_m``."""
    u = 1.0 - v
    if bool(subject.any()):
        u_subject = float(u[subject].median())
    else:
        u_subject = float(torch.quantile(strided_sample(u.reshape(-1), 400_000), 0.1))
    outside = u[~subject] if bool((~subject).any()) else u.reshape(-1)
    u_far = float(torch.quantile(strided_sample(outside, 400_000), 0.95))
    if u_far - u_subject < 1e-6:
        a, b = 0.0, subject_m
    else:
        a = (far_m - subject_m) / (u_far - u_subject)
        b = subject_m - a * u_subject
    return (a * u + b).clamp_min(MIN_DEPTH_M), {"fit": "distance = a*(1-value) + b", "a": a, "b": b}


def _face_box_region(face, photo_hw: tuple[int, int], hw: tuple[int, int], device) -> torch.Tensor:
    """The central half of the face's box (found in the photo) on the depth map's grid, ``[h,w]`` bool."""
    (H, W), (h, w) = photo_hw, hw
    x, y, bw, bh = face.box
    sx, sy = w / W, h / H
    m = torch.zeros(h, w, dtype=torch.bool, device=device)
    y0, y1 = int((y + bh // 4) * sy), max(int((y + 3 * bh // 4) * sy), int((y + bh // 4) * sy) + 1)
    x0, x1 = int((x + bw // 4) * sx), max(int((x + 3 * bw // 4) * sx), int((x + bw // 4) * sx) + 1)
    m[y0:y1, x0:x1] = True
    return m


def depth_from_picture(
    picture: torch.Tensor,
    settings: ImageDepthSettings,
    photo: Optional[torch.Tensor] = None,
    progress: Progress | Callable[[int, int], None] | None = None,
) -> tuple[DepthMap, torch.Tensor]:
    """Metric DEPTH from a depth picture (IMAGE ``[B,H,W,C]`` or MASK ``[B,H,W]``).

    ``photo`` (IMAGE ``[B or 1,H',W',3]``, any size) is the photograph the depth was made from; the
    ``face`` calibration finds the face in it (its size gives the subject's distance with the
    focal length and sensor, unless ``near_m`` gives it). Returns the DepthMap (at the picture's
    size) and a subject matte ``[B,H,W]`` 0..1. ``progress`` (a :class:`Progress`, or a ``(done,
    total)`` callback) ticks per image and step.
    """
    s = settings
    if s.encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {s.encoding!r}")
    if s.calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {s.calibration!r}")
    values = nearness(depth_values(finite_depth_picture(picture, "depth picture")), s.near_is_bright)
    if photo is not None:
        photo = finite_pixels(photo, "image")
        common_batch(**{"depth picture": values.shape[0], "image": photo.shape[0]})
    b, h, w = values.shape
    bar = Progress.of(progress, total=b + 1)
    depths, metas = [], []
    for i in range(b):
        v = values[i]
        meta: dict[str, Any] = {"model": "depth picture", "encoding": s.encoding, "near_is_bright": s.near_is_bright}
        if s.calibration == NEAR_FAR:
            if not (0 < s.near_m < s.far_m):
                raise ValueError(
                    f"near/far calibration needs 0 < near distance < far distance, got {s.near_m} m and {s.far_m} m"
                )
            depth, fit = from_near_far(v, s.encoding, s.near_m, s.far_m)
            meta.update(calibration=fit, near_m=s.near_m, background_distance_m=s.far_m)
        else:
            depth, more = _face_calibrated(v, s, None if photo is None else photo[min(i, photo.shape[0] - 1)])
            meta.update(more)
        depths.append(depth.clamp_min(MIN_DEPTH_M).float())
        metas.append(meta)
        bar.advance(i + 1, b + 1)
    meta = dict(metas[0])
    if b > 1:
        meta["per_image"] = metas
    meta["focal_length_mm"] = s.focal_length_mm
    meta["sensor"] = s.sensor
    metres = torch.stack(depths)
    matte = subject_weight_from_depth(metres)
    bar.advance(b + 1, b + 1)
    return DepthMap(metres, CALIBRATED, meta), matte


def _face_distance(photo: torch.Tensor, face, focal_length_mm: float, ppm: float) -> tuple[float, str]:
    """The subject distance DepthEstimate's prior would find (iris, else the eyes' spacing, from the
    MediaPipe face mesh), else the Haar face's size."""
    lm = find_face(photo)
    if lm is not None:
        iris = lm.iris_diameters_px
        found = distance_from_eyes(
            float(iris.mean()) if iris is not None else None, lm.interpupillary_px, focal_length_mm, ppm
        )
        if found is not None:
            return found
    return distance_from_face(face, focal_length_mm, ppm)


POLARITY_DOUBT = 0.6  # the face farther than this share of the frame: the polarity is probably flipped


def polarity_doubt(nearness_values: torch.Tensor, face: torch.Tensor) -> Optional[float]:
    """The share of the frame nearer than the face (``nearness_values [h,w]``: near = 1; ``face``: the
    face's region, bool ``[h,w]``), when it is above :data:`POLARITY_DOUBT`, else None. A face in a portrait
    is among the nearest things in it; a depth picture read with the wrong polarity puts it behind most
    of the frame."""
    if not bool(face.any()):
        return None
    at_face = nearness_values[face].median()
    share = float((nearness_values > at_face).float().mean())
    return share if share > POLARITY_DOUBT else None


def _face_calibrated(
    v: torch.Tensor, s: ImageDepthSettings, photo: Optional[torch.Tensor]
) -> tuple[torch.Tensor, dict[str, Any]]:
    h, w = v.shape
    meta: dict[str, Any] = {}
    face = None
    if photo is not None:
        photo = photo[..., :3].float().clamp(0, 1)
        if photo.shape[-1] == 1:
            photo = photo.expand(-1, -1, 3)
        faces = find_faces_scaled(to_uint8_rgb(photo))
        face = faces[0] if faces else None
    subject_m, how = s.near_m, "given"
    if subject_m <= 0:
        if face is not None:
            assert photo is not None  # a face is only found on the photo
            H, W = photo.shape[:2]
            subject_m, how = _face_distance(photo, face, s.focal_length_mm, pixels_per_mm(H, W, s.sensor))
        elif photo is None:
            raise ValueError(
                "face calibration needs the photo (connect 'image') to find the face, or a subject distance; "
                "or choose near/far distances"
            )
        else:
            subject_m, how = DEFAULT_SUBJECT_M, f"no face found: assumed {DEFAULT_SUBJECT_M} m"
    if face is not None:
        assert photo is not None
        H, W = photo.shape[:2]
        subject = _face_box_region(face, (H, W), (h, w), v.device)
        if face.eyes:
            meta["eye_xy"] = eye_positions_normalised(face, H, W)
        behind = polarity_doubt(v, subject)
        if behind is not None:
            meta["polarity_doubt"] = behind
            warnings.warn(
                f"the face lies behind {behind:.0%} of the picture (near_is_bright={s.near_is_bright}): the depth "
                f"picture is probably the other way round; set near_is_bright to {not s.near_is_bright}",
                stacklevel=2,
            )
    else:
        subject = subject_weight_from_depth((1.0 / (v + 1e-3))[None])[0] > 0.5
    far_m = max(s.far_m, subject_m * 1.2)
    if s.encoding == DISPARITY:
        depth, fit = calibrate_disparity(v, subject, subject_m, far_m)
    else:
        depth, fit = _fit_distance(v, subject, subject_m, far_m)
    meta.update(
        calibration=fit,
        subject_distance_from=how,
        subject_distance_m=round(subject_m, 3),
        background_distance_m=far_m,
    )
    return depth, meta
