"""Bringing low-resolution depth to the image's size without inventing depths.

Depth ``[B,h,w]`` metres (or disparity 1/m) in, ``[B,H,W]`` out; guides are IMAGE ``[B,H,W,3]`` 0..1.
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F

from ..core.progress import Progress
from .depth_map import MIN_DEPTH_M


def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B,h,w]`` to ``size`` (H, W)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def joint_bilateral_upsample(
    low: torch.Tensor,
    guide: torch.Tensor,
    k: int = 5,
    sigma_spatial: float = 1.0,
    sigma_range: float = 0.1,
    band_rows: int = 256,
    edge_confidence: float = 30.0,
    progress: Progress = Progress(),
) -> torch.Tensor:
    """Joint bilateral upsampling (Kopf et al. 2007) of ``low [B,h,w]`` to the size of ``guide [B,H,W,3]``.

    Each output pixel averages the k×k nearest low-resolution samples, weighted by distance (σ in
    low-resolution pixels) and by how close the sample's colour (the guide averaged to the low grid)
    is to the pixel's own colour, so depth snaps to the side of the edge the pixel belongs to.
    ``edge_confidence`` > 0 also down-weights low-resolution samples that straddle a depth edge
    (large local range of ``low``, relative to its overall range): they hold mixed values.
    Processes horizontal bands, so memory stays small at 8K; ``progress`` counts rows after each band,
    where Cancel is honoured.
    """
    b, h, w = low.shape
    H, W = guide.shape[1], guide.shape[2]
    g = guide[..., :3].permute(0, 3, 1, 2).to(low.dtype)
    g_low = F.interpolate(g, size=(h, w), mode="area")
    pad = k // 2
    low_p = F.pad(low.unsqueeze(1), (pad, pad, pad, pad), mode="replicate").squeeze(1)
    conf = torch.ones_like(low)
    if edge_confidence > 0:
        # local range: 3×3 morphological gradient (dilation − erosion)
        local = kornia.morphology.gradient(low.unsqueeze(1), torch.ones(3, 3, dtype=low.dtype, device=low.device))[:, 0]
        span = (low.amax(dim=(1, 2), keepdim=True) - low.amin(dim=(1, 2), keepdim=True)).clamp_min(1e-9)
        conf = torch.exp(-((local / span) ** 2) * edge_confidence) + 1e-3
    conf_p = F.pad(conf.unsqueeze(1), (pad, pad, pad, pad), mode="replicate").squeeze(1)
    g_low_p = F.pad(g_low, (pad, pad, pad, pad), mode="replicate")
    xs = (torch.arange(W, device=low.device, dtype=low.dtype) + 0.5) * (w / W) - 0.5
    ix = xs.round().long().clamp(0, w - 1)
    out = torch.empty(b, H, W, dtype=low.dtype, device=low.device)
    inv_s = 1.0 / (2 * sigma_spatial**2)
    inv_r = 1.0 / (2 * sigma_range**2)
    for y0 in range(0, H, band_rows):
        y1 = min(H, y0 + band_rows)
        ys = (torch.arange(y0, y1, device=low.device, dtype=low.dtype) + 0.5) * (h / H) - 0.5
        iy = ys.round().long().clamp(0, h - 1)
        g_hi = g[:, :, y0:y1]
        num = torch.zeros(b, y1 - y0, W, dtype=low.dtype, device=low.device)
        den = torch.zeros_like(num)
        for dy in range(-pad, pad + 1):
            yy = iy + dy
            wy = torch.exp(-((ys - yy.to(ys.dtype)) ** 2) * inv_s).view(1, -1, 1)
            rows_v = low_p[:, yy + pad]  # [B, rows, w+2p]
            rows_g = g_low_p[:, :, yy + pad]  # [B, 3, rows, w+2p]
            rows_c = conf_p[:, yy + pad]
            for dx in range(-pad, pad + 1):
                xx = ix + dx
                wx = torch.exp(-((xs - xx.to(xs.dtype)) ** 2) * inv_s).view(1, 1, -1)
                v = rows_v[:, :, xx + pad]
                c = rows_g[:, :, :, xx + pad]
                wr = torch.exp(-((c - g_hi) ** 2).sum(1) * inv_r)
                wgt = wy * wx * wr * rows_c[:, :, xx + pad]
                num += wgt * v
                den += wgt
        out[:, y0:y1] = num / den.clamp_min(1e-12)
        progress.check()
        progress.advance(y1, H)
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
    g_small = (
        F.interpolate(g, size=(h, w), mode="area")
        if (H >= h and W >= w)
        else F.interpolate(g, size=(h, w), mode="bilinear", align_corners=False)
    )
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
                best = torch.where(take, d, best)  # type: ignore[arg-type]  # set by the first candidate
        assert lo is not None and hi is not None and best is not None  # four candidates, always
        # where the four samples agree (smooth region), bilinear disparity is exact enough and smoother
        edge = (hi - lo) > 0.05 * hi
        out[i] = 1.0 / torch.where(edge, best, bilinear)
    return out
