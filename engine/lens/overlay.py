"""A picture of what the lens kept sharp: the rendered image with its in-focus region tinted."""

from __future__ import annotations

import torch

OVERLAY_RGB = (0.1, 1.0, 0.3)  # the tint of the sharp region (green, as focus peaking)


def in_focus_overlay(image: torch.Tensor, in_focus: torch.Tensor, strength: float = 0.5) -> torch.Tensor:
    """``image [B,H,W,3]`` 0..1 with ``in_focus [B,H,W]`` 0..1 drawn over it as a tint; same shape."""
    tint = torch.tensor(OVERLAY_RGB, dtype=image.dtype, device=image.device)
    a = (in_focus.to(image.device, image.dtype).clamp(0, 1) * strength).unsqueeze(-1)
    return image[..., :3] * (1 - a) + tint * a
