"""Depth that follows the image: guided-filter refinement at full resolution, and the calibration
of relative (affine-invariant) disparity to metres.

Disparity here is 1/Z in 1/metres, ``[B,H,W]``; guides are IMAGE ``[B,H,W,3]`` 0..1.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B,h,w]`` to ``size`` (H, W)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def joint_bilateral_upsample(low: torch.Tensor, guide: torch.Tensor, k: int = 5, sigma_spatial: float = 1.0,
                             sigma_range: float = 0.1, band_rows: int = 256,
                             edge_confidence: float = 30.0) -> torch.Tensor:
    """Joint bilateral upsampling (Kopf et al. 2007) of ``low [B,h,w]`` to the size of ``guide [B,H,W,3]``.

    Each output pixel averages the k×k nearest low-resolution samples, weighted by distance (σ in
    low-resolution pixels) and by how close the sample's colour (the guide averaged to the low grid)
    is to the pixel's own colour, so depth snaps to the side of the edge the pixel belongs to.
    ``edge_confidence`` > 0 also down-weights low-resolution samples that straddle a depth edge
    (large local range of ``low``, relative to its overall range): they hold mixed values.
    Processes horizontal bands, so memory stays small at 8K.
    """
    b, h, w = low.shape
    H, W = guide.shape[1], guide.shape[2]
    g = guide[..., :3].permute(0, 3, 1, 2).to(low.dtype)
    g_low = F.interpolate(g, size=(h, w), mode="area")
    pad = k // 2
    low_p = F.pad(low.unsqueeze(1), (pad, pad, pad, pad), mode="replicate").squeeze(1)
    conf = torch.ones_like(low)
    if edge_confidence > 0:
        l4 = low.unsqueeze(1)
        local = (F.max_pool2d(l4, 3, 1, 1) + F.max_pool2d(-l4, 3, 1, 1)).squeeze(1)
        span = (low.amax(dim=(1, 2), keepdim=True) - low.amin(dim=(1, 2), keepdim=True)).clamp_min(1e-9)
        conf = torch.exp(-((local / span) ** 2) * edge_confidence) + 1e-3
    conf_p = F.pad(conf.unsqueeze(1), (pad, pad, pad, pad), mode="replicate").squeeze(1)
    g_low_p = F.pad(g_low, (pad, pad, pad, pad), mode="replicate")
    xs = (torch.arange(W, device=low.device, dtype=low.dtype) + 0.5) * (w / W) - 0.5
    ix = xs.round().long().clamp(0, w - 1)
    out = torch.empty(b, H, W, dtype=low.dtype, device=low.device)
    inv_s = 1.0 / (2 * sigma_spatial ** 2)
    inv_r = 1.0 / (2 * sigma_range ** 2)
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
            rows_v = low_p[:, yy + pad]            # [B, rows, w+2p]
            rows_g = g_low_p[:, :, yy + pad]       # [B, 3, rows, w+2p]
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
    return out


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)² window of ``x [B,C,H,W]`` (windows clipped at the borders), via running
    sums: the cost does not depend on ``r``."""
    def along(t: torch.Tensor, dim: int) -> torch.Tensor:
        n = t.shape[dim]
        c = torch.cumsum(t, dim=dim)
        c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim=dim)
        idx = torch.arange(n, device=t.device)
        hi = (idx + r + 1).clamp(max=n)
        lo = (idx - r).clamp(min=0)
        shape = [1] * t.dim()
        shape[dim] = n
        count = (hi - lo).to(t.dtype).view(shape)
        return (c.index_select(dim, hi) - c.index_select(dim, lo)) / count

    return along(along(x, 2), 3)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float, subsample: int = 1) -> torch.Tensor:
    """Colour guided filter (He, Sun, Tang 2013). ``guide [B,3,H,W]``, ``src [B,1,H,W]``; O(N) in ``r``.

    ``subsample`` > 1 is the fast guided filter (He & Sun 2015): the linear coefficients are found at
    1/subsample resolution and applied to the full-resolution guide, so edges stay sharp.
    """
    if subsample > 1:
        H, W = guide.shape[-2:]
        size = (max(1, H // subsample), max(1, W // subsample))
        gi = F.interpolate(guide, size=size, mode="area")
        sp = F.interpolate(src, size=size, mode="area")
        a, b = _guided_coefficients(gi, sp, max(1, r // subsample), eps)
        a = F.interpolate(box_mean(a, max(1, r // subsample)), size=(H, W), mode="bilinear", align_corners=False)
        b = F.interpolate(box_mean(b, max(1, r // subsample)), size=(H, W), mode="bilinear", align_corners=False)
        return (a * guide).sum(1, keepdim=True) + b
    a, b = _guided_coefficients(guide, src, r, eps)
    return (box_mean(a, r) * guide).sum(1, keepdim=True) + box_mean(b, r)


def _guided_coefficients(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float):
    mean_i = box_mean(guide, r)
    mean_p = box_mean(src, r)
    corr_ip = box_mean(guide * src, r)
    cov_ip = corr_ip - mean_i * mean_p                                   # [B,3,H,W]
    # 3×3 covariance of the guide per pixel
    ii = torch.stack([guide[:, i] * guide[:, j] for i in range(3) for j in range(3)], 1)
    var = box_mean(ii, r) - torch.stack([mean_i[:, i] * mean_i[:, j] for i in range(3) for j in range(3)], 1)
    sigma = var.permute(0, 2, 3, 1).reshape(*var.shape[:1], *var.shape[2:], 3, 3)
    sigma = sigma + eps * torch.eye(3, dtype=src.dtype, device=src.device)
    a = torch.linalg.solve(sigma, cov_ip.permute(0, 2, 3, 1).unsqueeze(-1)).squeeze(-1).permute(0, 3, 1, 2)
    b = mean_p - (a * mean_i).sum(1, keepdim=True)
    return a, b


def guided_refine(disparity: torch.Tensor, guide: torch.Tensor, radius: Optional[int] = None,
                  eps: float = 1e-3, band_rows: int = 512) -> torch.Tensor:
    """Edge-aware refinement: guided filter of ``disparity [B,H,W]`` by the colour image.

    Edges of the result follow edges of ``guide [B,H,W,3]``. Runs in horizontal bands with an
    overlap of twice the window, so 8K frames need little memory. Large windows use the fast
    (subsampled) guided filter. ``radius`` defaults to 1 % of the long side.
    """
    b, H, W = disparity.shape
    r = radius or default_radius(H, W)
    g = guide[..., :3].permute(0, 3, 1, 2).to(disparity.dtype)
    d = disparity.unsqueeze(1)
    # normalise disparity so eps means the same for near and far scenes
    lo = d.amin(dim=(2, 3), keepdim=True)
    span = (d.amax(dim=(2, 3), keepdim=True) - lo).clamp_min(1e-9)
    dn = (d - lo) / span
    out = torch.empty_like(dn)
    halo = 4 * r + 2
    y = 0
    while y < H:
        y1 = min(H, y + band_rows)
        a0, a1 = max(0, y - halo), min(H, y1 + halo)
        part = guided_filter(g[:, :, a0:a1], dn[:, :, a0:a1], r, eps, subsample=max(1, r // 4))
        out[:, :, y:y1] = part[:, :, y - a0:y1 - a0]
        y = y1
    return (out * span + lo).squeeze(1)


def calibrate_disparity(rel: torch.Tensor, subject: torch.Tensor, subject_distance_m: float,
                        background_distance_m: float) -> tuple[torch.Tensor, dict]:
    """Fit metric disparity = a·rel + b to relative disparity ``rel [H,W]`` (larger = nearer).

    Two anchors: the median of ``rel`` over ``subject`` (bool/0..1 mask ``[H,W]``) maps to
    1/subject_distance_m; the 5th percentile of ``rel`` outside the subject (the far background)
    maps to 1/background_distance_m. Returns depth in metres and the numbers used.
    """
    sub = subject > 0.5
    flat = rel.reshape(-1)
    sample = flat[:: max(1, flat.numel() // 400_000)]
    r_subject = float(rel[sub].median()) if bool(sub.any()) else float(torch.quantile(sample, 0.9))
    bg_vals = rel[~sub] if bool((~sub).any()) else flat
    bg_vals = bg_vals[:: max(1, bg_vals.numel() // 400_000)]
    r_far = float(torch.quantile(bg_vals, 0.05))
    d_subject, d_far = 1.0 / subject_distance_m, 1.0 / background_distance_m
    if r_subject - r_far < 1e-6:
        a = 0.0
        b = d_subject
    else:
        a = (d_subject - d_far) / (r_subject - r_far)
        b = d_subject - a * r_subject
    disp = (a * rel + b).clamp_min(d_far * 0.25)
    return 1.0 / disp, {"fit": "disparity = a*relative + b", "a": a, "b": b,
                        "subject_distance_m": subject_distance_m, "background_distance_m": background_distance_m,
                        "relative_at_subject": r_subject, "relative_at_background_p5": r_far}


def edge_error(pred_disp: torch.Tensor, true_disp: torch.Tensor, band_px: int = 4, rel_jump: float = 0.08) -> float:
    """Mean absolute disparity error within ``band_px`` of the true depth edges ``[H,W]``
    (pixels whose disparity changes by more than ``rel_jump`` of its range to a neighbour)."""
    t = true_disp
    rng = float(t.max() - t.min())
    gx = (t[:, 1:] - t[:, :-1]).abs() > rel_jump * rng
    gy = (t[1:, :] - t[:-1, :]).abs() > rel_jump * rng
    edges = torch.zeros_like(t, dtype=torch.bool)
    edges[:, 1:] |= gx
    edges[1:, :] |= gy
    band = F.max_pool2d(edges.float()[None, None], 2 * band_px + 1, stride=1, padding=band_px)[0, 0] > 0
    return float((pred_disp - t).abs()[band].mean())


def default_radius(h: int, w: int) -> int:
    """Guided-filter window radius: 1 % of the long side, at least 2 px."""
    return max(2, round(0.01 * max(h, w)))

