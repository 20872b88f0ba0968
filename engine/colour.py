"""sRGB transfer functions and luminance. Tensors ``[..., 3]`` (channels last) unless noted."""

from __future__ import annotations

import torch

# Rec. 709 / sRGB primaries, D65 white: relative luminance weights of linear RGB.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB code values (0..1) to linear light (IEC 61966-2-1)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light to sRGB code values, clipped to 0..1."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055)


def to_uint8_rgb(image: torch.Tensor):
    """IMAGE-style ``[...,H,W,C]`` float 0..1 (C ≥ 3) to a uint8 RGB numpy array (for OpenCV, hashing)."""
    return (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def luminance(rgb_linear: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Relative luminance Y of linear RGB along ``dim`` (the channel axis)."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=rgb_linear.dtype, device=rgb_linear.device)
    shape = [1] * rgb_linear.dim()
    shape[dim] = 3
    return (rgb_linear * w.view(shape)).sum(dim=dim)
