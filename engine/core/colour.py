"""sRGB transfer functions and luminance. Tensors ``[..., 3]`` (channels last) unless noted."""

from __future__ import annotations

import torch

from .chunks import row_chunks

# Rec. 709 / sRGB primaries, D65 white: relative luminance weights of linear RGB.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def _srgb_to_linear_formula(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0).nan_to_num(0.0)  # as the table path: NaN decodes to black
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


# Decoding on the CPU interpolates linearly in a table of the formula (computed in float64) at steps of
# 1/4096: the interpolation error (≤ 1e-7) is below the float32 formula's own round-off (2.4e-7), and
# a table look-up is several times cheaper than ``pow``. Work goes in row chunks (``chunks``).
_TABLE_STEPS = 4096
_TABLES: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _decode_table(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``(value, slope)`` of the decode formula at k/4096, k = 0..4095 (slope per table step)."""
    table = _TABLES.get(device)
    if table is None:
        exact = _srgb_to_linear_formula(torch.linspace(0.0, 1.0, _TABLE_STEPS + 1, dtype=torch.float64))
        value, slope = exact[:-1].float(), (exact[1:] - exact[:-1]).float()
        table = _TABLES[device] = (value.to(device), slope.to(device))
    return table


def _decode_chunk(x: torch.Tensor, out: torch.Tensor) -> None:
    """Decode ``x`` (any strides) into ``out`` (contiguous, same shape) by the table."""
    value, slope = _decode_table(out.device)
    t = torch.clamp(x, 0.0, 1.0, out=out).nan_to_num_(0.0).mul_(_TABLE_STEPS)  # NaN survives clamp
    i = t.to(torch.int32).clamp_(max=_TABLE_STEPS - 1).view(-1)
    t.sub_(i.view(t.shape)).mul_(slope.index_select(0, i).view(t.shape)).add_(value.index_select(0, i).view(t.shape))


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB code values (0..1, clipped) to linear light (IEC 61966-2-1), same shape and layout.

    float32 on the CPU goes through the interpolated table (within 1e-7 of the exact formula); other
    dtypes and devices use the formula.
    """
    if x.dtype != torch.float32 or x.device.type != "cpu" or x.numel() < 4096:
        return _srgb_to_linear_formula(x)
    out = torch.empty(x.shape, dtype=x.dtype)
    flat_in, flat_out = x.reshape(-1), out.view(-1)
    for a, b in row_chunks(flat_in.numel(), 1):
        _decode_chunk(flat_in[a:b], flat_out[a:b])
    return out


def srgb_to_linear_planes(image: torch.Tensor) -> torch.Tensor:
    """Decode an ``[H,W,3]`` sRGB image (0..1) to linear light as planes ``[3,H,W]`` float32."""
    planes = image.permute(2, 0, 1)
    if image.dtype != torch.float32 or image.device.type != "cpu":
        return _srgb_to_linear_formula(planes.to(torch.float32)).contiguous()
    out = torch.empty(planes.shape, dtype=torch.float32)
    for y0, y1 in row_chunks(planes.shape[1], 3 * planes.shape[2]):
        _decode_chunk(planes[:, y0:y1], out[:, y0:y1])
    return out


def _encode(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    low = x <= 0.0031308
    out = x.clamp_min(0.0031308).pow_(1.0 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(low, x.mul_(12.92), out, out=out)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light to sRGB code values, clipped to 0..1 (the exact formula, in chunks on the CPU)."""
    if x.device.type != "cpu" or x.numel() < 4096:
        return _encode(x)
    out = torch.empty(x.shape, dtype=x.dtype)
    flat_in, flat_out = x.reshape(-1), out.view(-1)
    for a, b in row_chunks(flat_in.numel(), 1):
        flat_out[a:b] = _encode(flat_in[a:b])
    return out


def linear_planes_to_srgb_image(planes: torch.Tensor, out: torch.Tensor) -> None:
    """Encode linear ``planes [3,H,W]`` into the sRGB image ``out [H,W,3]`` (any float dtype), in row chunks."""
    if planes.device.type != "cpu":  # a GPU does best with one whole-frame pass per operation
        out.copy_(_encode(planes).permute(1, 2, 0))
        return
    for y0, y1 in row_chunks(planes.shape[1], 3 * planes.shape[2]):
        out[y0:y1] = _encode(planes[:, y0:y1]).permute(1, 2, 0)


def to_uint8_rgb(image: torch.Tensor):
    """IMAGE-style ``[...,H,W,C]`` float 0..1 (C ≥ 3) to a uint8 RGB numpy array (for OpenCV, hashing)."""
    return (image[..., :3].clamp(0, 1).nan_to_num(0.0) * 255).round().to(torch.uint8).cpu().numpy()


def luminance(rgb_linear: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Relative luminance Y of linear RGB along ``dim`` (the channel axis)."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=rgb_linear.dtype, device=rgb_linear.device)
    shape = [1] * rgb_linear.dim()
    shape[dim] = 3
    return (rgb_linear * w.view(shape)).sum(dim=dim)
