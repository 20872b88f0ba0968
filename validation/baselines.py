"""Baselines the optical renderer is measured against (benchmarks and tests only).

* ``gaussian_layered_blur``: the "filter" look of existing depth-of-field nodes: the sRGB image
  blurred with Gaussians of growing σ and blended per pixel by |CoC|; no occlusion, no linear
  light, no highlights.
* ``brute_force_scatter``: every pixel spreads its linear light over its own exact aperture disc
  (direct O(N·R²) summation, no layers, no occlusion handling): the slow quality reference.
* ``box_sum_guided_filter``: the engine's former colour guided filter (running sums, area-averaged
  fast variant), the baseline kornia's ``guided_blur`` replaced; kept to benchmark the two.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..engine.core.box_filter import box_mean
from ..engine.core.colour import linear_to_srgb, srgb_to_linear
from ..engine.lens.aperture import Aperture


def _gaussian_kernel1d(sigma: float) -> torch.Tensor:
    half = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-half, half + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[C,H,W]`` with reflected borders."""
    if sigma < 0.3:
        return img
    k = _gaussian_kernel1d(sigma).to(img.device, img.dtype)
    half = k.numel() // 2
    x = img.unsqueeze(1)  # [C,1,H,W]
    x = F.pad(x, (half, half, 0, 0), mode="reflect" if half < img.shape[-1] else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, half, half), mode="reflect" if half < img.shape[-2] else "replicate")
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return x.squeeze(1)


def gaussian_layered_blur(image: torch.Tensor, coc_px: torch.Tensor, levels: int = 8) -> torch.Tensor:
    """``image [H,W,3]`` sRGB, ``coc_px [H,W]`` signed diameter → the depth-layered Gaussian look ``[H,W,3]``."""
    img = image.permute(2, 0, 1)
    r = coc_px.abs() * 0.5
    rmax = float(r.max())
    if rmax < 0.5:
        return image.clone()
    steps = torch.linspace(0, rmax, levels)
    stack = [gaussian_blur(img, float(s) / 2.0) for s in steps]  # σ = R/2 matches a disc's spread
    pos = (r / rmax * (levels - 1)).clamp(0, levels - 1)
    lo = pos.floor().long().clamp(max=levels - 2)
    t = (pos - lo).unsqueeze(0)
    st = torch.stack(stack)  # [L,3,H,W]
    a = torch.gather(st, 0, lo.view(1, 1, *lo.shape).expand(1, 3, *lo.shape)).squeeze(0)
    b = torch.gather(st, 0, (lo + 1).view(1, 1, *lo.shape).expand(1, 3, *lo.shape)).squeeze(0)
    return ((1 - t) * a + t * b).permute(1, 2, 0)


def brute_force_scatter(
    image: torch.Tensor, coc_px: torch.Tensor, aperture: Aperture = Aperture(), radius_step: float = 0.25
) -> torch.Tensor:
    """Exact per-pixel scatter in linear light. ``image [H,W,3]`` sRGB → ``[H,W,3]`` sRGB.

    Pixels are grouped by radius rounded to ``radius_step`` px; each group's light is spread with
    its own disc by direct spatial summation (conv2d), so cost grows with R². The result is
    divided by the scattered weight, so borders keep their brightness.
    """
    lin = srgb_to_linear(image).permute(2, 0, 1)
    r = (coc_px.abs() * 0.5 / radius_step).round() * radius_step
    out = torch.zeros(4, *lin.shape[1:], dtype=lin.dtype)
    for rv in torch.unique(r).tolist():
        m = (r == rv).to(lin.dtype)
        k = aperture.kernel(rv)
        src = torch.cat([lin * m, m.unsqueeze(0)]).unsqueeze(1)
        half = k.shape[-1] // 2
        out += F.conv2d(src, k.flip(0, 1).view(1, 1, *k.shape), padding=half).squeeze(1)
    # divide by the scattered weight: image borders keep their brightness
    return linear_to_srgb(out[:3] / out[3:].clamp_min(1e-6)).permute(1, 2, 0)


def box_sum_guided_filter(
    guide: torch.Tensor, src: torch.Tensor, r: int, eps: float, subsample: int = 1
) -> torch.Tensor:
    """The former engine guided filter (He, Sun, Tang 2013). ``guide [B,3,H,W]``, ``src [B,1,H,W]``; O(N) in ``r``.

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
