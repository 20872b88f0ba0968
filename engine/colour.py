"""sRGB transfer functions and luminance. Tensors ``[..., 3]`` (channels last) unless noted."""

from __future__ import annotations

import torch

# Rec. 709 / sRGB primaries, D65 white: relative luminance weights of linear RGB.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def _srgb_to_linear_formula(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


_LUT_CACHE: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _srgb_lut(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Linear value of each 8-bit code c (as c/255 in ``dtype``), computed by the formula itself."""
    key = (dtype, device)
    lut = _LUT_CACHE.get(key)
    if lut is None:
        lut = _srgb_to_linear_formula(torch.arange(256, dtype=dtype, device=device) / 255)
        _LUT_CACHE[key] = lut
    return lut


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB code values (0..1) to linear light (IEC 61966-2-1).

    Input that holds 8-bit codes exactly (``c/255``, as every 8-bit image file loads) is decoded by a
    256-entry table made by the formula itself (equal to it within float round-off, 1 ulp) and a few
    times cheaper; any other input uses the formula.
    """
    if x.numel() >= 4096 and x.dtype in (torch.float32, torch.float64) and x.device.type == "cpu":
        codes = (x.clamp(0.0, 1.0) * 255).round_()
        if torch.equal(codes / 255, x):
            return _srgb_lut(x.dtype, x.device).index_select(0, codes.long().reshape(-1)).view(x.shape)
    return _srgb_to_linear_formula(x)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light to sRGB code values, clipped to 0..1."""
    x = x.clamp(0.0, 1.0)
    low = x <= 0.0031308
    out = x.clamp_min(0.0031308).pow_(1.0 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(low, x.mul_(12.92), out, out=out)


def to_uint8_rgb(image: torch.Tensor):
    """IMAGE-style ``[...,H,W,C]`` float 0..1 (C ≥ 3) to a uint8 RGB numpy array (for OpenCV, hashing)."""
    return (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def luminance(rgb_linear: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Relative luminance Y of linear RGB along ``dim`` (the channel axis)."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=rgb_linear.dtype, device=rgb_linear.device)
    shape = [1] * rgb_linear.dim()
    shape[dim] = 3
    return (rgb_linear * w.view(shape)).sum(dim=dim)
