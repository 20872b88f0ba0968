"""Grain: blurred regions re-grained to the noise of the in-focus region, so they do not look pasted in.

A blur of radius r averages the photo's noise over about π·r² pixels, leaving ``σ/(√π·r)`` of it; the grain
added is what brings the total back to the in-focus noise: ``σ·√(1 − min(1, 1/(π·r²)))``. The in-focus
noise is measured on the input (sRGB 0..1), robustly, from the residual of a 3×3 mean (median absolute
deviation, which texture and edges hardly move), per channel, with the channels' correlation (so grain
that is mostly luminance stays so). The grain is Gaussian, white, and seeded: a render is reproducible.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..core.chunks import row_chunks

MIN_SAMPLES = 2000  # fewer in-focus pixels than this: no reliable noise level, no grain
MAX_SAMPLES = 1_000_000  # rows sampled so that at most this many pixels are measured
MAD_TO_SIGMA = 1.4826
RESIDUAL_SHARE = math.sqrt(8.0 / 9.0)  # std of (x − 3×3 mean of x) for white noise of std 1


def in_focus_noise(image: torch.Tensor, in_focus: torch.Tensor) -> Optional[torch.Tensor]:
    """The noise of the in-focus region of ``image [H,W,3]`` (sRGB 0..1) as a ``[3,3]`` covariance (sRGB units²),
    measured where ``in_focus [H,W]`` is 1; None where too few pixels are in focus."""
    H, W, _ = image.shape
    if H < 3 or W < 3:
        return None
    step = max(1, math.ceil((H - 2) * W / MAX_SAMPLES))
    ys = torch.arange(1, H - 1, step, device=image.device)
    block = image[ys[:, None] + torch.tensor([-1, 0, 1], device=image.device)].float()  # [n,3,W,3]
    vert = block.mean(1)
    mean3 = (vert[:, :-2] + vert[:, 1:-1] + vert[:, 2:]) / 3.0
    res = block[:, 1, 1:-1] - mean3  # [n,W-2,3]
    keep = in_focus[ys][:, 1:-1] >= 1.0
    vals = res[keep]
    if vals.shape[0] < MIN_SAMPLES:
        return None
    med = vals.median(dim=0).values
    sigma = MAD_TO_SIGMA * (vals - med).abs().median(dim=0).values / RESIDUAL_SHARE
    if float(sigma.max()) <= 1e-5:
        return None
    clipped = vals.clamp(-3 * sigma * RESIDUAL_SHARE, 3 * sigma * RESIDUAL_SHARE)
    cov = clipped.T @ clipped / clipped.shape[0]
    d = cov.diagonal().clamp_min(1e-12).sqrt()
    corr = (cov / (d[:, None] * d[None, :])).clamp(-1, 1)
    return corr * (sigma[:, None] * sigma[None, :])


def regrain(
    rendered: torch.Tensor, original: torch.Tensor, radius: torch.Tensor, in_focus: torch.Tensor, seed: int = 0
) -> None:
    """Add grain to ``rendered [H,W,3]`` (sRGB 0..1, in place) where it is blurred: ``radius [H,W]`` signed CoC
    radius (px); the level is the in-focus noise of ``original [H,W,3]`` (``in_focus [H,W]`` 0..1)."""
    cov = in_focus_noise(original, in_focus)
    if cov is None:
        return
    eye = torch.eye(3, dtype=cov.dtype, device=cov.device)
    chol = torch.linalg.cholesky(cov + 1e-10 * eye).to(rendered.dtype)
    H, W, _ = rendered.shape
    gen = torch.Generator(device=rendered.device).manual_seed(1234 + seed)
    chunks = row_chunks(H, 3 * W) if rendered.device.type == "cpu" else [(0, H)]
    for y0, y1 in chunks:
        r2 = radius[y0:y1].square().mul_(math.pi).clamp_min_(1.0)
        amount = r2.reciprocal_().neg_().add_(1.0).sqrt_()  # √(1 − 1/(π r²)), 0 for r ≤ 1/√π
        z = torch.randn(y1 - y0, W, 3, generator=gen, device=rendered.device, dtype=rendered.dtype)
        part = rendered[y0:y1]
        part.add_((z @ chol.T).mul_(amount.unsqueeze(-1))).clamp_(0.0, 1.0)
