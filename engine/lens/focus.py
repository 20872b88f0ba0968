"""Auto focus: which distance the lens focuses at when the user leaves it to the camera.

Order of preference: the user's focus mask (a picked point is one: whatever is under it, any person);
the eyes, from the depth map's metadata (``eye_xy`` in relative 0..1 coordinates, set by
DepthEstimate: the main person's, the nearest of the ``people`` it found) or found in the image;
when the eyes' depth is unusable (outside the frame, not finite), the face's depth, then the subject's
distance; otherwise the nearest large region near the centre of the frame. With several people the reason says
whose eyes (or whose face the mask is on).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from ..core.colour import to_uint8_rgb
from ..core.sampling import strided_sample

FALLBACK_M = 1.0  # metres, when no depth in the frame is finite and positive


def auto_focus_distance(
    depth_m: torch.Tensor,
    mask: Optional[torch.Tensor] = None,
    meta: Optional[dict[str, Any]] = None,
    image: Optional[torch.Tensor] = None,
) -> tuple[float, str]:
    """Focus distance in metres for one depth map ``[H,W]`` and how it was chosen; always finite and > 0.

    mask: ``[H,W]`` 0..1 (focus on what it marks, weighted median of depth). image: ``[H,W,3]``
    0..1, searched for a face when the depth's metadata names no eyes.

    When the eyes' depth is unusable (every eye outside the frame, or no finite depth > 0 under them) the
    fallbacks are, in order: the face's depth (the median in the nearest person's face box), the subject's
    distance (DepthEstimate's ``subject_distance_m``), the nearest region at the frame's centre; the reason
    then names the fallback and why the eyes could not be used.
    """
    H, W = depth_m.shape
    meta = meta or {}
    people = meta.get("people") or []
    if mask is not None and float(mask.sum()) > 0.5:
        m = mask.to(depth_m.dtype)
        d = _weighted_median(depth_m, m)
        if _usable(d):
            return d, "focus mask" + _on_person(m, people)
    eyes = meta.get("eye_xy")
    whose = f" of person 1 of {len(people)} (nearest)" if eyes and len(people) > 1 else ""
    if not eyes and image is not None:
        eyes = _eyes_in(image)
    why = ""
    if eyes:
        at_eyes, why = _depth_at_eyes(depth_m, eyes)
        if at_eyes is not None:
            return at_eyes, "eyes" + whose
        why = f" ({why})"
    box = people[0].get("face_box_rel") if people else None
    face = _median_in_box(depth_m, box) if box else None
    if face is not None:
        return face, "face" + whose + why
    subject = meta.get("subject_distance_m")
    if isinstance(subject, (int, float)) and _usable(float(subject)):
        return float(subject), "subject distance" + why
    return _nearest_central(depth_m), "nearest central region" + why


def _usable(d: float) -> bool:
    return math.isfinite(d) and d > 0


def _depth_at_eyes(depth_m: torch.Tensor, eyes: list[list[float]]) -> tuple[Optional[float], str]:
    """The mean of the median depth (m) around each eye inside the frame, or None and why not."""
    H, W = depth_m.shape
    r = max(1, min(H, W) // 100)
    vals, outside = [], 0
    for x, y in eyes:
        if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            outside += 1
            continue
        cx, cy = int(round(x * (W - 1))), int(round(y * (H - 1)))
        patch = depth_m[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1].reshape(-1)
        patch = patch[torch.isfinite(patch) & (patch > 0)]
        if patch.numel():
            vals.append(float(patch.median()))
    if vals:
        return sum(vals) / len(vals), ""
    if outside == len(eyes):
        return None, "the eyes lie outside the frame"
    return None, "the depth at the eyes is not finite"


def _median_in_box(depth_m: torch.Tensor, box: list[float]) -> Optional[float]:
    """The median finite depth > 0 (m) in a relative box (x, y, w, h), clipped to the frame; None if empty."""
    H, W = depth_m.shape
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    x0, x1 = max(0, int(x * W)), min(W, int(math.ceil((x + w) * W)))
    y0, y1 = max(0, int(y * H)), min(H, int(math.ceil((y + h) * H)))
    if x1 <= x0 or y1 <= y0:
        return None
    v = depth_m[y0:y1, x0:x1].reshape(-1)
    v = v[torch.isfinite(v) & (v > 0)]
    return float(v.median()) if v.numel() else None


def _nearest_central(depth_m: torch.Tensor) -> float:
    """The median of the nearest 30 % of a centre-weighted window (finite depths > 0; else the whole frame's;
    else 1 m)."""
    H, W = depth_m.shape
    y0, y1 = int(H * 0.15), max(int(H * 0.85), int(H * 0.15) + 1)
    x0, x1 = int(W * 0.2), max(int(W * 0.8), int(W * 0.2) + 1)
    for window in (depth_m[y0:y1, x0:x1], depth_m):
        centre = window.reshape(-1)
        centre = centre[torch.isfinite(centre) & (centre > 0)]
        if centre.numel():
            centre = strided_sample(centre, 400_000)
            cut = torch.quantile(centre.float(), 0.3).to(centre.dtype)
            return float(centre[centre <= cut].median())
    return FALLBACK_M


def _on_person(mask: torch.Tensor, people: list[dict[str, Any]]) -> str:
    """`` (on person k of n)`` when the mask's centre lies on a face of DEPTH metadata's ``people`` (the
    face box grown by half its size), else empty; only with more than one person."""
    if len(people) < 2:
        return ""
    H, W = mask.shape
    total = float(mask.sum())
    ys = torch.arange(H, dtype=mask.dtype, device=mask.device)
    xs = torch.arange(W, dtype=mask.dtype, device=mask.device)
    cx = float((mask.sum(0) * xs).sum()) / total / max(W - 1, 1)
    cy = float((mask.sum(1) * ys).sum()) / total / max(H - 1, 1)
    best = None
    for p in people:
        x, y, w, h = p.get("face_box_rel", (0, 0, 0, 0))
        d = max(abs(cx - (x + w / 2)) / max(w, 1e-6), abs(cy - (y + h / 2)) / max(h, 1e-6))
        if d <= 1.0 and (best is None or d < best[0]):
            best = (d, p.get("person"))
    return "" if best is None else f" (on person {best[1]} of {len(people)})"


def _eyes_in(image: torch.Tensor) -> list[list[float]]:
    """Relative eye positions of the largest face in ``image [H,W,3]`` (empty if none, or no OpenCV)."""
    try:
        from ..faces.detection import eye_positions_normalised, find_faces_scaled
    except ImportError:
        return []
    H, W = image.shape[:2]
    rgb = to_uint8_rgb(image)
    try:
        faces = find_faces_scaled(rgb)
    except (ImportError, RuntimeError):
        return []
    if not faces or not faces[0].eyes:
        return []
    return eye_positions_normalised(faces[0], H, W)


def _weighted_median(values: torch.Tensor, weights: torch.Tensor) -> float:
    v = values.reshape(-1)
    w = weights.reshape(-1).clamp_min(0)
    order = torch.argsort(v)
    cw = torch.cumsum(w[order], 0)
    idx = int(torch.searchsorted(cw, cw[-1] * 0.5))
    return float(v[order][min(idx, v.numel() - 1)])
