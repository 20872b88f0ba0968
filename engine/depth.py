"""Metric depth maps: the DEPTH value passed between nodes, cleaning and edge-aware resampling.

Depth is distance from the lens in metres, ``[B,H,W]`` float32.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

# How a depth map came to be.
MEASURED = "measured"    # from a file or a sensor: trusted metric values
ESTIMATED = "estimated"  # from a model with metric output
CALIBRATED = "calibrated"  # relative model output fitted to metres using assumptions
ASSUMED = "assumed"      # a prior (e.g. subject plane + background plane)


@dataclass(frozen=True)
class DepthMap:
    """The DEPTH type: metric depth plus where it came from.

    metres: ``[B,H,W]`` float32, metres from the lens, finite and > 0.
    source: one of MEASURED, ESTIMATED, CALIBRATED, ASSUMED.
    meta: free-form JSON-able facts (model name, assumptions, focus hints such as ``eye_xy``).
    """

    metres: torch.Tensor
    source: str = MEASURED
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metres.dim() != 3:
            raise ValueError(f"DEPTH must be [B,H,W], got shape {tuple(self.metres.shape)}")

    @property
    def batch(self) -> int:
        return int(self.metres.shape[0])

    def with_meta(self, **extra: Any) -> "DepthMap":
        return replace(self, meta={**self.meta, **extra})


MIN_DEPTH_M = 1e-3


def clean_depth(depth_m: torch.Tensor, what: str = "depth") -> torch.Tensor:
    """Replace NaN, ±inf, zero and negative values so the map is usable, warning about what changed.

    NaN and non-positive values take the median of the valid values; +inf takes the largest finite
    valid value ×10 (treated as very far). Returns a new float32 tensor of the same shape.
    """
    d = depth_m.to(torch.float32)
    bad_nan = torch.isnan(d)
    bad_inf = torch.isposinf(d)
    bad_nonpos = (d <= 0) | torch.isneginf(d)
    n_bad = int(bad_nan.sum() + bad_inf.sum() + bad_nonpos.sum())
    if n_bad == 0:
        return d
    valid = ~(bad_nan | bad_inf | bad_nonpos)
    if not bool(valid.any()):
        raise ValueError(
            f"{what} has no valid values (all NaN, infinite, zero or negative); "
            "supply metric depth in metres, greater than 0."
        )
    vals = d[valid]
    fill_far = float(vals.max()) * 10.0
    fill_mid = float(vals.median())
    out = torch.where(bad_inf, torch.full_like(d, fill_far), d)
    out = torch.where(bad_nan | bad_nonpos, torch.full_like(d, fill_mid), out)
    out = out.clamp_min(MIN_DEPTH_M)
    warnings.warn(
        f"{what}: replaced {int(bad_nan.sum())} NaN, {int(bad_inf.sum())} infinite and "
        f"{int(bad_nonpos.sum())} zero/negative values ({100.0 * n_bad / d.numel():.2f}% of pixels); "
        f"NaN/non-positive -> median {fill_mid:.3g} m, inf -> {fill_far:.3g} m",
        RuntimeWarning,
        stacklevel=2,
    )
    return out


def resize_depth_edge_aware(depth_m: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Resample depth ``[B,h,w]`` to the guide image's size ``[B,H,W,C]`` without inventing depths.

    Each output pixel takes the depth of one of its four nearest source samples: the one whose
    colour (the guide averaged to the depth grid) is closest to the output pixel's colour. Edges
    therefore follow the image instead of smearing into intermediate depths, which would make
    "floating" layers between subject and background. Works in disparity for smooth regions.
    """
    b, h, w = depth_m.shape
    H, W = guide.shape[1], guide.shape[2]
    if (h, w) == (H, W):
        return depth_m
    g = guide[..., :3].permute(0, 3, 1, 2).to(torch.float32)
    g_small = F.interpolate(g, size=(h, w), mode="area") if (H >= h and W >= w) else F.interpolate(
        g, size=(h, w), mode="bilinear", align_corners=False)
    # continuous source coordinates of each output pixel centre
    ys = (torch.arange(H, dtype=torch.float32, device=depth_m.device) + 0.5) * (h / H) - 0.5
    xs = (torch.arange(W, dtype=torch.float32, device=depth_m.device) + 0.5) * (w / W) - 0.5
    y0 = ys.floor().clamp(0, h - 1).long()
    x0 = xs.floor().clamp(0, w - 1).long()
    y1 = (y0 + 1).clamp(max=h - 1)
    x1 = (x0 + 1).clamp(max=w - 1)
    fy = (ys - y0.to(torch.float32)).clamp(0, 1)[:, None]
    fx = (xs - x0.to(torch.float32)).clamp(0, 1)[None, :]
    disp = 1.0 / depth_m.clamp_min(MIN_DEPTH_M)
    out = torch.empty(b, H, W, dtype=torch.float32, device=depth_m.device)
    for i in range(b):
        best_cost = None
        best = None
        cands = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x1, (1 - fy) * fx), (y1, x0, fy * (1 - fx)), (y1, x1, fy * fx)]
        bilinear = torch.zeros(H, W, dtype=torch.float32, device=depth_m.device)
        lo = hi = None
        for yy, xx, wgt in cands:
            d = disp[i][yy][:, xx]
            bilinear += wgt * d
            lo = d if lo is None else torch.minimum(lo, d)
            hi = d if hi is None else torch.maximum(hi, d)
            col = g_small[i][:, yy][:, :, xx]
            cost = ((col - g[i]) ** 2).sum(0) + 1e-4 * (1 - wgt)  # ties -> nearest sample
            if best_cost is None:
                best_cost, best = cost, d
            else:
                take = cost < best_cost
                best_cost = torch.where(take, cost, best_cost)
                best = torch.where(take, d, best)
        # where the four samples agree (smooth region), bilinear disparity is exact enough and smoother
        edge = (hi - lo) > 0.05 * hi
        out[i] = 1.0 / torch.where(edge, best, bilinear)
    return out
