"""A subject matte from metric depth: what is nearer than the split between near and far."""

from __future__ import annotations

import torch

from ..sampling import strided_sample
from .depth_map import MIN_DEPTH_M


def subject_weight_from_depth(depth_m: torch.Tensor) -> torch.Tensor:
    """Soft subject mask ``[B,H,W]`` 0..1 from depth ``[B,H,W]`` metres.

    Two-means clustering of disparity (1/Z) finds the split between subject and background; the
    mask ramps over 5 % of the disparity range around it.
    """
    out = torch.empty_like(depth_m)
    for i in range(depth_m.shape[0]):
        disp = 1.0 / depth_m[i].clamp_min(MIN_DEPTH_M)
        sample = strided_sample(disp.reshape(-1), 250_000)  # all values: a 2-D input would be strided per row
        lo, hi = float(sample.min()), float(sample.max())
        if hi - lo < 1e-6:
            out[i] = 1.0
            continue
        t = (lo + hi) / 2
        for _ in range(30):
            near, far = sample[sample >= t], sample[sample < t]
            if near.numel() == 0 or far.numel() == 0:
                break
            t_new = 0.5 * (float(near.mean()) + float(far.mean()))
            if abs(t_new - t) < 1e-7:
                break
            t = t_new
        width = 0.05 * (hi - lo)
        out[i] = ((disp - t) / width + 0.5).clamp(0, 1)
    return out
