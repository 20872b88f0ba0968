"""A subject matte from metric depth: what is nearer than the split between near and far."""

from __future__ import annotations

import torch

from ..core.box_filter import box_mean
from ..core.sampling import strided_sample
from .depth_map import MIN_DEPTH_M


def subject_weight_from_depth(depth_m: torch.Tensor, ramp: float = 0.05) -> torch.Tensor:
    """Soft subject mask ``[B,H,W]`` 0..1 from depth ``[B,H,W]`` metres.

    Two-means clustering of disparity (1/Z) finds the split between subject and background; the
    mask ramps over ``ramp`` (a fraction) of the disparity range around it.
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
        width = ramp * (hi - lo)
        out[i] = ((disp - t) / width + 0.5).clamp(0, 1)
    return out


def snap_depth_to_matte(
    depth_m: torch.Tensor, matte: torch.Tensor, solid: float = 0.25, band_px: int = 0
) -> torch.Tensor:
    """Give a network's depth ``[H,W]`` metres the subject matte's edge (``matte [H,W]`` 0..1).

    Networks blur depth across the person's outline. In a band of ``band_px`` (default 1.5 % of the
    long side) around the matte's edge, pixels inside the matte take the depth of the nearby subject
    interior and pixels outside take the depth of the nearby background (normalised box averages of
    disparity over the interior/exterior beyond the band); elsewhere the depth is unchanged.
    """
    H, W = depth_m.shape
    r = band_px or max(2, round(0.015 * max(H, W)))
    inside = (matte > solid).to(depth_m.dtype)[None, None]
    near_edge = box_mean(inside, r)
    band = (near_edge >= 1e-6) & (near_edge <= 1 - 1e-6)
    core_in = (near_edge > 1 - 1e-6).to(depth_m.dtype)  # interior beyond the band
    core_out = (near_edge < 1e-6).to(depth_m.dtype)
    disp = (1.0 / depth_m.clamp_min(MIN_DEPTH_M))[None, None]
    wide = 2 * r
    fill_in = box_mean(disp * core_in, wide) / box_mean(core_in, wide).clamp_min(1e-6)
    fill_out = box_mean(disp * core_out, wide) / box_mean(core_out, wide).clamp_min(1e-6)
    ok_in = box_mean(core_in, wide) > 1e-4
    ok_out = box_mean(core_out, wide) > 1e-4
    snapped = torch.where(inside > 0, torch.where(ok_in, fill_in, disp), torch.where(ok_out, fill_out, disp))
    out = torch.where(band, snapped, disp)
    return (1.0 / out.clamp_min(1e-6))[0, 0]
