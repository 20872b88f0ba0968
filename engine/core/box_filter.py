"""Windowed means by running sums: the cost does not depend on the window's size."""

from __future__ import annotations

import torch


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


def dilate(mask: torch.Tensor, r: int) -> torch.Tensor:
    """``mask [B,H,W]`` (bool) grown by ``r`` px: set wherever a set pixel lies in its (2r+1)² window
    (clipped at the borders), as a max pool of that window. By running counts along rows, then columns: the
    cost does not depend on ``r`` (the max pool's grows with r², 77² comparisons a pixel at r = 38)."""

    def along(m: torch.Tensor, dim: int) -> torch.Tensor:
        # counts C(k) of set pixels up to k, padded as C(k < 0) = 0 and C(k ≥ n) = C(n − 1): the window of i
        # holds C(i + r) − C(i − r − 1) of them
        n = m.shape[dim]
        c = torch.cumsum(m, dim=dim, dtype=torch.int32)
        pad = [torch.zeros_like(c.narrow(dim, 0, 1)).expand(*_sized(c, dim, r + 1)), c]
        pad.append(c.narrow(dim, n - 1, 1).expand(*_sized(c, dim, r)))
        c = torch.cat(pad, dim=dim)
        return c.narrow(dim, 2 * r + 1, n) > c.narrow(dim, 0, n)

    return along(along(mask, -1), -2)


def _sized(t: torch.Tensor, dim: int, n: int) -> list[int]:
    """``t``'s shape with ``n`` along ``dim``."""
    shape = list(t.shape)
    shape[dim] = n
    return shape
