"""Depth that follows the image: guided-filter refinement at full resolution, and the calibration
of relative (affine-invariant) disparity to metres.

Disparity here is 1/Z in 1/metres, ``[B,H,W]``; guides are IMAGE ``[B,H,W,3]`` 0..1.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


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
    cov_ip = corr_ip - mean_i * mean_p  # [B,3,H,W]
    # 3×3 covariance of the guide per pixel
    ii = torch.stack([guide[:, i] * guide[:, j] for i in range(3) for j in range(3)], 1)
    var = box_mean(ii, r) - torch.stack([mean_i[:, i] * mean_i[:, j] for i in range(3) for j in range(3)], 1)
    sigma = var.permute(0, 2, 3, 1).reshape(*var.shape[:1], *var.shape[2:], 3, 3)
    sigma = sigma + eps * torch.eye(3, dtype=src.dtype, device=src.device)
    a = torch.linalg.solve(sigma, cov_ip.permute(0, 2, 3, 1).unsqueeze(-1)).squeeze(-1).permute(0, 3, 1, 2)
    b = mean_p - (a * mean_i).sum(1, keepdim=True)
    return a, b


def guided_refine(
    disparity: torch.Tensor, guide: torch.Tensor, radius: Optional[int] = None, eps: float = 1e-3, band_rows: int = 512
) -> torch.Tensor:
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
        out[:, :, y:y1] = part[:, :, y - a0 : y1 - a0]
        y = y1
    return (out * span + lo).squeeze(1)


def default_radius(h: int, w: int) -> int:
    """Guided-filter window radius: 1 % of the long side, at least 2 px."""
    return max(2, round(0.01 * max(h, w)))
