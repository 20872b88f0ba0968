"""Focus on a picked point: the editor's "x,y" text (0..1 of the image width and height, from the left
and top) turned into a small disc mask that auto focus reads the depth under.

Mask ``[H,W]`` float32 0..1; the disc's radius is 2 % of the image's shorter side (at least 2 px), so
a click lands on the subject's depth and not on a single noisy pixel.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

POINT_RADIUS_FRACTION = 0.02


def parse_focus_point(text: Optional[str]) -> Optional[tuple[float, float]]:
    """``"x,y"`` with both in 0..1 → ``(x, y)``; empty text → None. Anything else raises ValueError."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        x, y = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"focus_point {text!r} is not a point: expected 'x,y' with x and y between 0 and 1 "
            "(fractions of the image width and height from the top left), or empty for no point"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(
            f"focus_point {text!r} lies outside the image: x and y must be between 0 and 1, or leave it empty"
        )
    return x, y


def focus_point_mask(
    point: tuple[float, float], height_px: int, width_px: int, device: torch.device | None = None
) -> torch.Tensor:
    """A disc ``[H,W]`` of ones around ``point`` (relative x, y in 0..1), zeros elsewhere."""
    x, y = point
    cx, cy = x * (width_px - 1), y * (height_px - 1)
    r = max(2.0, POINT_RADIUS_FRACTION * min(height_px, width_px))
    ys = torch.arange(height_px, dtype=torch.float32, device=device)[:, None]
    xs = torch.arange(width_px, dtype=torch.float32, device=device)[None, :]
    return (((xs - cx) ** 2 + (ys - cy) ** 2) <= r * r).to(torch.float32)


class FocusChoice(NamedTuple):
    """The mask auto focus reads (``[1,H,W]`` or ``[B,H,W]``, or None: the nearest face / subject), whether
    it is a picked point's, and a note when a given point is not used."""

    mask: Optional[torch.Tensor]
    from_point: bool
    note: Optional[str]


def focus_mask_for(
    focus_point: Optional[str],
    focus_distance_m: float,
    focus_mask: Optional[torch.Tensor],
    height_px: int,
    width_px: int,
) -> FocusChoice:
    """What auto focus reads, by precedence: a focus distance (> 0 m) decides alone; else a picked
    point ("x,y") replaces ``focus_mask [B,H,W]``; else the mask; else nothing."""
    point = parse_focus_point(focus_point)
    if point is None:
        return FocusChoice(focus_mask, False, None)
    if focus_distance_m > 0:
        return FocusChoice(focus_mask, False, f"focus_point {focus_point} is ignored because focus_distance_m is set")
    return FocusChoice(focus_point_mask(point, height_px, width_px).unsqueeze(0), True, None)
