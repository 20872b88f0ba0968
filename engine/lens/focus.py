"""Auto focus: which distance the lens focuses at when the user leaves it to the camera.

Order of preference: the user's focus mask (a picked point is one: whatever is under it, any person);
the eyes, from the depth map's metadata (``eye_xy`` in relative 0..1 coordinates, set by
DepthEstimate: the main person's, the nearest of the ``people`` it found) or found in the image;
otherwise the nearest large region near the centre of the frame. With several people the reason says
whose eyes (or whose face the mask is on).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from ..colour import to_uint8_rgb
from ..sampling import strided_sample


def auto_focus_distance(
    depth_m: torch.Tensor,
    mask: Optional[torch.Tensor] = None,
    meta: Optional[dict[str, Any]] = None,
    image: Optional[torch.Tensor] = None,
) -> tuple[float, str]:
    """Focus distance in metres for one depth map ``[H,W]`` and how it was chosen.

    mask: ``[H,W]`` 0..1 (focus on what it marks, weighted median of depth). image: ``[H,W,3]``
    0..1, searched for a face when the depth's metadata names no eyes.
    """
    H, W = depth_m.shape
    people = (meta or {}).get("people") or []
    if mask is not None and float(mask.sum()) > 0.5:
        m = mask.to(depth_m.dtype)
        return _weighted_median(depth_m, m), "focus mask" + _on_person(m, people)
    eyes = (meta or {}).get("eye_xy")
    whose = f" of person 1 of {len(people)} (nearest)" if eyes and len(people) > 1 else ""
    if not eyes and image is not None:
        eyes = _eyes_in(image)
    if eyes:
        vals = []
        for x, y in eyes:
            cx, cy = int(round(x * (W - 1))), int(round(y * (H - 1)))
            r = max(1, min(H, W) // 100)
            patch = depth_m[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1]
            vals.append(float(patch.median()))
        return float(sum(vals) / len(vals)), "eyes" + whose
    # nearest large central region: the median of the nearest 30 % of a centre-weighted window
    y0, y1 = int(H * 0.15), max(int(H * 0.85), int(H * 0.15) + 1)
    x0, x1 = int(W * 0.2), max(int(W * 0.8), int(W * 0.2) + 1)
    centre = depth_m[y0:y1, x0:x1].reshape(-1)
    centre = strided_sample(centre, 400_000)
    cut = torch.quantile(centre, 0.3)
    near = centre[centre <= cut]
    return float(near.median()), "nearest central region"


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
