"""Exact minimum filters over square windows, separable, by doubling.

A window of 2k+1 samples is the minimum of two shifted windows of 2^j and one more shift: about
log2(2k+1) element-wise passes per axis, with no index buffers (unlike ``max_pool2d``). Windows are
truncated at the image borders (the border is padded with +inf).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .chunks import row_chunks


def sliding_min(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Minimum over the window ``[i - k, i + k]`` along ``dim`` of ``x`` (any shape), truncated at the ends."""
    if k <= 0:
        return x
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [k, k]
    m = F.pad(x, pad, value=float("inf"))
    target, width = 2 * k + 1, 1
    while width * 2 <= target:
        n = m.shape[dim] - width
        m = torch.minimum(m.narrow(dim, 0, n), m.narrow(dim, width, n))
        width *= 2
    rest = target - width
    if rest:
        n = m.shape[dim] - rest
        m = torch.minimum(m.narrow(dim, 0, n), m.narrow(dim, rest, n))
    return m


def min_filter_chunks(x: torch.Tensor, k: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Row chunks ``(y0, y1, minimum [y1-y0, W])`` of the (2k+1)² minimum filter of ``x [H,W]``. On the CPU
    the passes run chunk by chunk, so they stay in cache; on a GPU there is one chunk, the whole frame."""
    if x.device.type != "cpu":
        yield 0, x.shape[0], sliding_min(sliding_min(x, k, 1), k, 0)
        return
    H, W = x.shape
    across = torch.empty_like(x)
    for y0, y1 in row_chunks(H, W):
        across[y0:y1] = sliding_min(x[y0:y1], k, 1)
    for y0, y1 in row_chunks(H, W, min_rows=4 * k):
        a0, a1 = max(0, y0 - k), min(H, y1 + k)
        yield y0, y1, sliding_min(across[a0:a1], k, 0)[y0 - a0 : y1 - a0]


def min_filter(x: torch.Tensor, k: int) -> torch.Tensor:
    """(2k+1)² minimum filter of ``x [H,W]``; same shape."""
    if k <= 0:
        return x
    out = torch.empty_like(x)
    for y0, y1, m in min_filter_chunks(x, k):
        out[y0:y1] = m
    return out
