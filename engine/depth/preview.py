"""A viewable picture of a depth map (near = bright), as an IMAGE ``[B,H,W,3]`` 0..1."""

from __future__ import annotations

import torch

from ..core.sampling import strided_sample


def depth_preview(depth_m: torch.Tensor) -> torch.Tensor:
    """Normalised disparity preview ``[B,H,W,3]`` 0..1 of depth ``[B,H,W]``: near = white, far = black.

    Normalised per image between the 1st and 99th percentile of disparity.
    """
    disp = 1.0 / depth_m.to(torch.float32).clamp_min(1e-6)
    flat = disp.reshape(disp.shape[0], -1)
    sample = strided_sample(flat, 200_000)
    lo = torch.quantile(sample, 0.01, dim=1).view(-1, 1, 1)
    hi = torch.quantile(sample, 0.99, dim=1).view(-1, 1, 1)
    norm = ((disp - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return norm.unsqueeze(-1).expand(-1, -1, -1, 3).contiguous()
