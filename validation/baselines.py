"""Baselines the optical renderer is measured against (benchmarks and tests only).

* ``gaussian_layered_blur``: the "filter" look of existing depth-of-field nodes: the sRGB image
  blurred with Gaussians of growing σ and blended per pixel by |CoC|; no occlusion, no linear
  light, no highlights.
* ``brute_force_scatter``: every pixel spreads its linear light over its own exact aperture disc
  (direct O(N·R²) summation, no layers, no occlusion handling): the slow quality reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..engine.colour import linear_to_srgb, srgb_to_linear
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
