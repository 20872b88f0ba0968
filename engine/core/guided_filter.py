"""Depth and mattes that follow the image: guided-filter refinement at full resolution.

Disparity here is 1/Z in 1/metres, ``[B,H,W]``; guides are IMAGE ``[B,H,W,3]`` 0..1.
"""

from __future__ import annotations

from typing import Optional

import kornia
import torch
import torch.nn.functional as F

from .progress import Progress


def _kornia_before(major: int, minor: int) -> bool:
    parts = [int(p) for p in kornia.__version__.split(".")[:2] if p.isdigit()]
    return tuple(parts) < (major, minor)


_SUBSAMPLE_NEEDS_DIVISIBLE_SIZE = _kornia_before(0, 9)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float, subsample: int = 1) -> torch.Tensor:
    """Colour guided filter (He, Sun, Tang 2013) of ``src [B,1,H,W]`` by ``guide [B,3,H,W]`` over a
    (2r+1)² window, borders replicated; kornia's implementation (box sums: cost independent of ``r``).

    ``subsample`` > 1 is the fast guided filter (He & Sun 2015): the linear coefficients are found at
    1/subsample resolution and applied to the full-resolution guide, so edges stay sharp.
    """
    H, W = src.shape[-2:]
    pad_h, pad_w = -H % subsample, -W % subsample
    if (pad_h or pad_w) and _SUBSAMPLE_NEEDS_DIVISIBLE_SIZE:
        # kornia before 0.9 fails (a size mismatch) unless the size divides by subsample: pad by replication
        # (what the border mode does anyway) and crop
        guide = F.pad(guide, (0, pad_w, 0, pad_h), mode="replicate")
        src = F.pad(src, (0, pad_w, 0, pad_h), mode="replicate")
    out = kornia.filters.guided_blur(guide, src, 2 * r + 1, eps, border_type="replicate", subsample=subsample)
    return out[..., :H, :W]


def guided_refine(
    disparity: torch.Tensor,
    guide: torch.Tensor,
    radius: Optional[int] = None,
    eps: float = 1e-3,
    band_rows: int = 512,
    progress: Progress = Progress(),
) -> torch.Tensor:
    """Edge-aware refinement: guided filter of ``disparity [B,H,W]`` by the colour image.

    Edges of the result follow edges of ``guide [B,H,W,3]``. Runs in horizontal bands with an
    overlap of twice the window, so 8K frames need little memory. Large windows use the fast
    (subsampled) guided filter. ``radius`` defaults to 1 % of the long side. ``progress`` counts rows
    after each band, where Cancel is honoured.
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
        progress.check()
        progress.advance(y, H)
    return (out * span + lo).squeeze(1)


def default_radius(h: int, w: int) -> int:
    """Guided-filter window radius: 1 % of the long side, at least 2 px."""
    return max(2, round(0.01 * max(h, w)))
