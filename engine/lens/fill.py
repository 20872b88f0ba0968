"""What the photo never saw: the content behind a blurred foreground, filled from its surroundings.

A blurred foreground object turns semi-transparent at its edges and reveals what lies behind it; the
photo has no pixels there. They are interpolated from the surroundings by push–pull (pull–push,
Gortler et al. 1996; used for the disocclusions of layered depth of field by Kraus & Strengert 2007).
"""

from __future__ import annotations

import math

import torch

from ..core.fill import push_pull_fill
from .layers import LayerAssignment
from .planes import COVERAGE, RADIUS_SUM, RGB

NO_SUPPORT = 1e-4  # coverage at or below this holds no light to fill from (or to show)


def fill_behind_foreground(
    acc: torch.Tensor, assign: LayerAssignment, k: int, radius: torch.Tensor, max_r: float
) -> None:
    """Fill, in place, what lies behind foreground pixels (layers ≤ k) before they are laid over.

    ``acc [5,H,W]``: the accumulator at full resolution (premultiplied RGB, coverage, ``RADIUS_SUM``);
    ``radius [H,W]``: signed CoC radii (px), ``max_r`` their largest magnitude (px), the reach of the fill.
    Behind the foreground the accumulated colour and radius are replaced by their push–pull fill from the
    surroundings (weighted by the coverage the foreground leaves visible), so the sharp subject continues
    behind it rather than the far background showing through; coverage there becomes 1.
    """
    box = assign.bbox_at_or_in_front(k)  # from the host's presence table: no device synchronisation
    if box is None:
        return
    H, W = radius.shape
    m = int(math.ceil(max_r)) + 2
    y0, y1 = max(0, box[0] - m), min(H, box[1] + m)
    x0, x1 = max(0, box[2] - m), min(W, box[3] + m)
    front = assign.weight_at_or_in_front(k, y0, y1, x0, x1)
    region = acc[:, y0:y1, x0:x1]
    cov = region[COVERAGE].clamp_min(1e-6)
    colour = region[RGB] / cov
    mean_r = region[RADIUS_SUM] / cov
    behind = (1.0 - front) * region[COVERAGE].clamp(0, 1)
    if not bool((behind > NO_SUPPORT).any()):
        return  # nothing behind to fill from (all in front): the foreground is normalised by its own coverage
    filled = push_pull_fill(torch.cat([colour, mean_r.unsqueeze(0)]), behind)
    region[RGB] = filled[:-1]
    region[RADIUS_SUM] = filled[-1]  # a radius again: mean radius × coverage 1
    region[COVERAGE] = 1.0


def fill_uncovered(acc: torch.Tensor) -> None:
    """Fill, in place, pixels of the accumulator ``acc [5,H,W]`` that no light reached (coverage at or below
    :data:`NO_SUPPORT`) from their surroundings, by push–pull on their bounding box (grown by its own size).

    A lens character's cat's eye shifts its disc off centre, so a frame corner may receive nothing from
    inside the frame; its light would come from outside it. Without this the pixel renders black."""
    cov = acc[COVERAGE]
    empty = cov <= NO_SUPPORT
    if not bool(empty.any()) or bool(empty.all()):
        return
    H, W = cov.shape
    ys = torch.nonzero(empty.any(1)).flatten()
    xs = torch.nonzero(empty.any(0)).flatten()
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    my, mx = max(y1 - y0, 4), max(x1 - x0, 4)
    y0, y1, x0, x1 = max(0, y0 - my), min(H, y1 + my), max(0, x0 - mx), min(W, x1 + mx)
    region = acc[:, y0:y1, x0:x1]
    c = region[COVERAGE]
    weight = (c > NO_SUPPORT).to(c.dtype)
    filled = push_pull_fill(region[RGB] / c.clamp_min(1e-6), weight)
    hole = empty[y0:y1, x0:x1]
    region[RGB] = torch.where(hole, filled, region[RGB])
    region[COVERAGE] = torch.where(hole, torch.ones_like(c), c)
