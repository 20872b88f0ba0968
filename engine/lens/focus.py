"""Auto focus: which distance the lens focuses at when the user leaves it to the camera.

Order of preference: the user's focus mask; the eyes, from the depth map's metadata (``eye_xy`` in
relative 0..1 coordinates, set by DepthEstimate) or found in the image; otherwise the nearest large
region near the centre of the frame.
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
    if mask is not None and float(mask.sum()) > 0.5:
        return _weighted_median(depth_m, mask.to(depth_m.dtype)), "focus mask"
    eyes = (meta or {}).get("eye_xy")
    if not eyes and image is not None:
        eyes = _eyes_in(image)
    if eyes:
        vals = []
        for x, y in eyes:
            cx, cy = int(round(x * (W - 1))), int(round(y * (H - 1)))
            r = max(1, min(H, W) // 100)
            patch = depth_m[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1]
            vals.append(float(patch.median()))
        return float(sum(vals) / len(vals)), "eyes"
    # nearest large central region: the median of the nearest 30 % of a centre-weighted window
    y0, y1 = int(H * 0.15), max(int(H * 0.85), int(H * 0.15) + 1)
    x0, x1 = int(W * 0.2), max(int(W * 0.8), int(W * 0.2) + 1)
    centre = depth_m[y0:y1, x0:x1].reshape(-1)
    centre = strided_sample(centre, 400_000)
    cut = torch.quantile(centre, 0.3)
    near = centre[centre <= cut]
    return float(near.median()), "nearest central region"


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
