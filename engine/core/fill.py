"""Filling what a picture lacks from its surroundings: push–pull interpolation of low-weight pixels.

Push–pull (pull–push, Gortler et al. 1996; used for the disocclusions of layered depth of field by Kraus
& Strengert 2007): a weighted image pyramid down to a few pixels, then back up.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .chunks import row_chunks


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
        c, w = _halve(c, w)
    return _push(_pull(c, w), levels)


def push_pull_fill_mask(
    values: torch.Tensor, mask: torch.Tensor, box: Optional[tuple[int, int, int, int]] = None
) -> torch.Tensor:
    """:func:`push_pull_fill` with a 0/1 weight: ``values [C,H,W]`` kept where ``mask [H,W]`` (bool) is set,
    filled elsewhere; ``[C,H,W]``, the same numbers (to rounding). Cheaper: the full-resolution level is pooled and
    brought back in row chunks (no full-size products or weights), the values taken as they are.

    ``box`` (y0, y1, x0, x1): fill only there (the pyramid still sees the whole frame, so the numbers there
    are the same); outside it the result holds ``values``."""
    C, H, W = values.shape
    if min(H, W) <= 4:
        return push_pull_fill(values, mask.to(values.dtype))
    c = torch.empty(C, -(-H // 2), -(-W // 2), dtype=values.dtype, device=values.device)
    w = torch.empty(c.shape[-2:], dtype=values.dtype, device=values.device)
    cpu = values.device.type == "cpu"
    for y0, y1 in row_chunks(H, C * W, multiple_of=2) if cpu else [(0, H)]:
        # even chunk starts: each 2×2 cell lies in one chunk, as in one whole-frame pooling
        m = mask[y0:y1].to(values.dtype)
        if (y1 - y0) % 2 or W % 2:
            c[:, y0 // 2 : -(-y1 // 2)], w[y0 // 2 : -(-y1 // 2)] = _halve(values[:, y0:y1] * m, m)
        else:  # whole 2×2 cells: sums of rows, then of columns (cheaper than the pooling operator)
            n = (y1 - y0) // 2
            cv = (values[:, y0:y1] * m).view(C, n, 2, W).sum(2).view(C, n, W // 2, 2).sum(3)
            c[:, y0 // 2 : y1 // 2] = cv.mul_(0.25)
            w[y0 // 2 : y1 // 2] = m.view(n, 2, W).sum(1).view(n, W // 2, 2).sum(2).mul_(0.25)
    levels = []
    while min(w.shape[-2:]) > 4:
        levels.append((c, w))
        c, w = _halve(c, w)
    coarse = _push(_pull(c, w), levels)
    # the full-resolution level: weight 1 keeps the value, weight 0 takes the upsampled estimate
    if H % 2 or W % 2 or not cpu:
        out = F.interpolate(coarse.unsqueeze(0), size=(H, W), mode="bilinear", align_corners=False).squeeze(0)
        if box is not None:
            y0, y1, x0, x1 = box
            keep = torch.ones_like(mask)
            keep[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
            mask = keep
        return torch.where(mask, values, out)
    # an even frame is exactly twice the next level: upsampled a chunk of rows at a time, each from its
    # coarse rows and one more on either side (what bilinear interpolation reads there)
    y0, y1, x0, x1 = box or (0, H, 0, W)
    y0, x0 = y0 // 2 * 2, x0 // 2 * 2
    out = values.clone()
    cx0, cx1 = max(x0 // 2 - 1, 0), min(-(-x1 // 2) + 1, W // 2)
    for r0, r1 in row_chunks(y1 - y0, C * (x1 - x0), multiple_of=2):
        r0, r1 = y0 + r0, y0 + r1
        cy0, cy1 = max(r0 // 2 - 1, 0), min(-(-r1 // 2) + 1, H // 2)
        up = F.interpolate(coarse[None, :, cy0:cy1, cx0:cx1], scale_factor=2, mode="bilinear", align_corners=False)[0]
        up = up[:, r0 - 2 * cy0 : r1 - 2 * cy0, x0 - 2 * cx0 : x1 - 2 * cx0]
        out[:, r0:r1, x0:x1] = torch.where(mask[r0:r1, x0:x1], values[:, r0:r1, x0:x1], up)
    return out


def _halve(c: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One pyramid step: 2×2 means of the weighted values ``c [C,h,w]`` and the weights ``w [h,w]``."""
    c = F.avg_pool2d(c.unsqueeze(0), 2, ceil_mode=True).squeeze(0)
    return c, F.avg_pool2d(w.view(1, 1, *w.shape), 2, ceil_mode=True).view(c.shape[-2:])


def _pull(c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The coarsest level's estimate: cells with no weight at all take the level's weighted mean (not black)."""
    mean = c.sum(dim=(-2, -1), keepdim=True) / w.sum().clamp_min(1e-8)
    return torch.where(w > 1e-8, c / w.clamp_min(1e-8), mean)


def _push(est: torch.Tensor, levels: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Back up the pyramid: each level its own weighted value where weight is high, the coarser estimate elsewhere."""
    for c_l, w_l in reversed(levels):
        up = F.interpolate(est.unsqueeze(0), size=c_l.shape[-2:], mode="bilinear", align_corners=False).squeeze(0)
        wc = w_l.clamp(0, 1)
        own = c_l / w_l.clamp_min(1e-8)
        est = torch.where(w_l > 1e-8, wc * own + (1 - wc) * up, up)
    return est
