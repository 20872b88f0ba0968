"""Convolution with a lens character's kernels: one kernel per colour plane, and per field zone.

A layer's light is scattered with the kernel of the zone its *source* pixel lies in (each source point
spreads over its own disc): the layer is cut along the zone edges, each piece convolved in full (zero-padded
FFT) with its zone's kernel and the pieces added where they overlap (overlap-add), which is exact for a
kernel that is constant within each zone. Tensors ``[5,h,w]`` (planes of ``planes``); kernels ``[P,K,K]``
with P = 1 (every plane alike) or 5 (per plane, red and blue sharing one and coverage following green,
:data:`character.PLANE_KERNEL`).
"""

from __future__ import annotations

import torch

from .character import PLANE_KERNEL, LayerKernels
from .fft import padded_size
from .planes import COVERAGE


def plane_spectrum(kernel: torch.Tensor, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """``rfft2`` of ``kernel [P,K,K]`` at ``size``: ``[P,…]``, transforming only the distinct kernels (P = 5:
    planes 0 and 1)."""
    if kernel.shape[0] == 1:
        return torch.fft.rfft2(kernel.to(dtype), s=size)
    distinct = torch.fft.rfft2(kernel[:2].to(dtype), s=size)
    return distinct[list(PLANE_KERNEL)]


def multiply_identity(layer: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``layer [5,h,w]`` convolved with 1×1 kernels ``[P,1,1]``."""
    return layer * kernel.reshape(-1, 1, 1).to(layer.dtype)


def convolve_full(piece: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Full linear convolution ``[5, h+K−1, w+K−1]`` of ``piece [5,h,w]`` with ``kernel [P,K,K]``."""
    kk = kernel.shape[-1]
    if kk == 1:
        return multiply_identity(piece, kernel)
    _, h, w = piece.shape
    size = padded_size(h, w, kk)
    y = torch.fft.irfft2(torch.fft.rfft2(piece, s=size).mul_(plane_spectrum(kernel, size, piece.dtype)), s=size)
    return y[:, : h + kk - 1, : w + kk - 1]


def convolve_same_zoned(
    layer: torch.Tensor, lk: LayerKernels, origin: tuple[int, int], s: int, edges: tuple[list[int], list[int]]
) -> torch.Tensor:
    """'Same' convolution of ``layer [5,h,w]`` (at scale ``s``, its top-left pixel at full-resolution ``origin``
    (y, x)) with the zone kernels ``lk``; ``edges``: zone row and column edges in full-resolution px."""
    _, h, w = layer.shape
    kk = lk.size
    half = kk // 2
    gy, gx = lk.grid
    if gy * gx == 1:
        return convolve_full(layer, lk.kernels[0])[:, half : half + h, half : half + w]
    out = torch.zeros_like(layer)
    ys = [min(max(-(-(e - origin[0]) // s), 0), h) for e in edges[0]]
    xs = [min(max(-(-(e - origin[1]) // s), 0), w) for e in edges[1]]
    check = layer.device.type == "cpu"
    for j in range(gy):
        a, b = ys[j], ys[j + 1]
        if b <= a:
            continue
        for i in range(gx):
            c, d = xs[i], xs[i + 1]
            if d <= c:
                continue
            piece = layer[:, a:b, c:d]
            if check and not bool(piece[COVERAGE].any()):
                continue
            conv = convolve_full(piece, lk.kernels[j * gx + i])
            ta, tc = a - half, c - half  # the piece's full convolution starts half a kernel above-left
            ya, xa = max(ta, 0), max(tc, 0)
            yb, xb = min(ta + conv.shape[1], h), min(tc + conv.shape[2], w)
            out[:, ya:yb, xa:xb] += conv[:, ya - ta : yb - ta, xa - tc : xb - tc]
    return out


def zone_segments(
    run: tuple[int, int, int, int], edges: tuple[list[int], list[int]], grid: tuple[int, int]
) -> list[tuple[int, tuple[int, int, int, int]]]:
    """A run of tiles ``(y0, y1, x0, x1)`` (full-resolution px) cut along the zone edges: ``(zone index, box)``
    pairs, so that every source pixel is scattered with its own zone's kernel."""
    y0, y1, x0, x1 = run
    gy, gx = grid
    if gy * gx == 1:
        return [(0, run)]
    out = []
    for j in range(gy):
        a, b = max(y0, edges[0][j]), min(y1, edges[0][j + 1])
        if j == 0:
            a = y0
        if j == gy - 1:
            b = y1
        if b <= a:
            continue
        for i in range(gx):
            c, d = max(x0, edges[1][i]), min(x1, edges[1][i + 1])
            if i == 0:
                c = x0
            if i == gx - 1:
                d = x1
            if d > c:
                out.append((j * gx + i, (a, b, c, d)))
    return out
