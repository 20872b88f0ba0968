"""Filling what a picture lacks from its surroundings: push–pull interpolation of low-weight pixels.

Push–pull (pull–push, Gortler et al. 1996; used for the disocclusions of layered depth of field by Kraus
& Strengert 2007): a weighted image pyramid down to a few pixels, then back up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull_fill(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill pixels of ``values [C,H,W]`` with low ``weight [H,W]`` (0..1) from their surroundings; ``[C,H,W]``.

    A weighted image pyramid (2×2 means of value·weight and weight) down to a few pixels, then back up,
    each level taking its own weighted value where weight is high and the (bilinearly upsampled) coarser
    estimate elsewhere.
    """
    levels = []
    c = values * weight
    w = weight
    while min(w.shape[-2:]) > 4:
        levels.append((c, w))
        c = F.avg_pool2d(c.unsqueeze(0), 2, ceil_mode=True).squeeze(0)
        w = F.avg_pool2d(w.view(1, 1, *w.shape), 2, ceil_mode=True).view(c.shape[-2:])
    # the coarsest level: cells with no weight at all take the level's weighted mean (not black)
    mean = c.sum(dim=(-2, -1), keepdim=True) / w.sum().clamp_min(1e-8)
    est = torch.where(w > 1e-8, c / w.clamp_min(1e-8), mean)
    for c_l, w_l in reversed(levels):
        up = F.interpolate(est.unsqueeze(0), size=c_l.shape[-2:], mode="bilinear", align_corners=False).squeeze(0)
        wc = w_l.clamp(0, 1)
        own = c_l / w_l.clamp_min(1e-8)
        est = torch.where(w_l > 1e-8, wc * own + (1 - wc) * up, up)
    return est
