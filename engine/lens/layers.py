"""Depth layers in circle-of-confusion space and the soft (linear) assignment of pixels to them.

A pixel of signed CoC radius r (pixels; > 0 behind the focus plane, < 0 in front) is shared
between the two layer radii that bracket it, with linear weights, so blur grows smoothly with
|1/S − 1/Z| and there are no steps between layers. Layer radii are spaced by ``step_px`` near
focus and by the ratio ``1 + growth`` further out (adjacent large radii within a few per cent).
"""

from __future__ import annotations

import math

import torch

from ..core.chunks import row_chunks

HALF_STEPS_UNTIL_PX = 2.0  # layer radii are ½ px apart up to this radius, then ``step_px`` or more


def layer_spacing_scale(radius_px: float) -> float:
    """Layer spacing at ``radius_px`` relative to the regular ``step_px``: ½ among the half-pixel layers."""
    return 0.5 if abs(radius_px) < HALF_STEPS_UNTIL_PX else 1.0


def layer_radii(max_abs_radius: float, step_px: float = 1.0, growth: float = 0.06) -> torch.Tensor:
    """Sorted signed layer radii covering ±``max_abs_radius`` (includes 0).

    Half-pixel steps up to ``HALF_STEPS_UNTIL_PX``: a sub-pixel circle of confusion must stay nearly
    sharp, and a blend of the sharp layer with a 1 px disc would soften it too much.
    """
    pos = [0.5 * i for i in range(int(2 * HALF_STEPS_UNTIL_PX) + 1)]
    while pos[-1] < max_abs_radius:
        pos.append(pos[-1] + max(step_px, growth * pos[-1]))
    pos_t = torch.tensor(pos, dtype=torch.float32)
    return torch.cat([-pos_t.flip(0)[:-1], pos_t])


class LayerAssignment:
    """Per-pixel bracketing layers of a signed radius map ``[H,W]``, computed once.

    Pixel p lies between layers ``upper[p] - 1`` and ``upper[p]`` with weight ``frac[p]`` on the
    latter (radii outside the covered range are clamped to the end layers).
    """

    def __init__(self, radius: torch.Tensor, radii: torch.Tensor):
        """``radius [H,W]`` signed CoC radii (px) on any device; ``radii`` the sorted layer radii on the host."""
        radii = radii.cpu()
        self.radii = radii.to(radius.device)
        n = len(radii)
        H, W = radius.shape
        dev = radius.device
        lowest, highest = float(radii[0]), float(radii[-1])
        self.upper = torch.empty(H, W, dtype=torch.int32, device=dev)
        self.frac = torch.empty(H, W, dtype=radius.dtype, device=dev)
        # which layers touch each row / column
        rows = torch.zeros(H, n + 1, dtype=torch.bool, device=dev)
        cols = torch.zeros(W, n + 1, dtype=torch.bool, device=dev)
        for y0, y1 in row_chunks(H, W) if dev.type == "cpu" else [(0, H)]:
            r = radius[y0:y1].clamp(lowest, highest)
            upper = self.upper[y0:y1]
            torch.bucketize(r, self.radii, out_int32=True, out=upper).clamp_(1, n - 1)
            index = upper.long()
            lo = self.radii[index - 1]
            torch.div(r.sub_(lo), self.radii[index].sub_(lo), out=self.frac[y0:y1]).clamp_(0, 1)
            rows[y0:y1].scatter_(1, index, True)
            cols.scatter_(1, index.t(), True)
        # on the host: per-layer bounding boxes are then read without device synchronisation
        self._rows = rows.cpu()
        self._cols = cols.cpu()

    def used(self) -> list[int]:
        present = self._rows.any(0)
        out: set[int] = set()
        for u in torch.nonzero(present).flatten().tolist():
            out.update((u - 1, u))
        return sorted(i for i in out if 0 <= i < len(self.radii))

    def bbox(self, k: int) -> tuple[int, int, int, int] | None:
        """Rows [y0, y1) and columns [x0, x1) where layer ``k`` has weight (before margins)."""
        rows = self._rows[:, k] | self._rows[:, k + 1]
        cols = self._cols[:, k] | self._cols[:, k + 1]
        if not bool(rows.any()):
            return None
        ys = torch.nonzero(rows).flatten()
        xs = torch.nonzero(cols).flatten()
        return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1

    def weights_into(
        self, k: int, y0: int, y1: int, x0: int, x1: int, weight: torch.Tensor, occluding: torch.Tensor
    ) -> None:
        """Layer ``k``'s weight and occluding weight on the crop rows y0:y1, cols x0:x1, written into the given
        ``[y1-y0, x1-x0]`` views.

        The occluding weight is the layer's weight plus the share its pixels give the next nearer layer
        ``k - 1``: a pixel split between layers k−1 and k is one surface, so what lies behind it must be
        hidden by its whole coverage, not by each half in turn (which would let a quarter through).
        """
        up = self.upper[y0:y1, x0:x1]
        fr = self.frac[y0:y1, x0:x1]
        at_k = up == k
        torch.mul(fr, -1.0, out=occluding).add_(1.0).masked_fill_(up != k + 1, 0.0)  # between layers k and k+1
        torch.where(at_k, fr, occluding, out=weight)
        occluding.masked_fill_(at_k, 1.0)

    def weight_at_or_in_front(self, k: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """Per-pixel total weight of layers with index ≤ ``k`` (radius ≤ radii[k], i.e. nearer) on a crop."""
        up = self.upper[y0:y1, x0:x1]
        fr = self.frac[y0:y1, x0:x1]
        return torch.where(up <= k, torch.ones_like(fr), torch.where(up == k + 1, 1.0 - fr, torch.zeros_like(fr)))

    def bbox_at_or_in_front(self, k: int) -> tuple[int, int, int, int] | None:
        """Rows [y0, y1) and columns [x0, x1) of the pixels with weight in layers ≤ ``k`` (from the host)."""
        rows = self._rows[:, : k + 2].any(1)
        if not bool(rows.any()):
            return None
        cols = self._cols[:, : k + 2].any(1)
        ys = torch.nonzero(rows).flatten()
        xs = torch.nonzero(cols).flatten()
        return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


def scale_for_radius(radius_px: float, base_radius_px: float) -> int:
    """Power-of-two downsampling factor at which a blur of ``radius_px`` is done.

    Blurs up to ``2·base_radius_px`` run at full resolution; larger ones at a scale that keeps the
    kernel radius between ``base`` and ``2·base`` pixels, so cost hardly depends on blur size and
    the disc edge stays about ``1/base`` of its radius wide.
    """
    r = abs(radius_px)
    if r < 2 * base_radius_px:
        return 1
    return 2 ** int(math.floor(math.log2(r / base_radius_px)))
