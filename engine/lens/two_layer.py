"""People as a layer of their own: a soft alpha (hair, outlines) over a background that lies behind them.

A pixel on a strand of hair holds two surfaces: the strand (a share alpha of the pixel) and the
background behind it (1 − alpha). One depth per pixel cannot say that: the pixel is either sharp, with
the background's colour mixed in (a sharp fringe around the hair), or blurred with the background,
the strand smeared out with it. Given the alpha, the photo is split into a foreground colour F and a
background colour B with I = αF + (1 − α)B (:func:`split_colours`), each layer is rendered at its own
depth, and the blurred foreground is laid over the blurred background with its blurred alpha
(premultiplied ``over``, Porter & Duff 1984):

    out = R(αF) + (1 − R(α)) · R(B)

For a fixed depth the renderer is linear in the image, so R(αF) and R(α) are the foreground layer's
premultiplied colour and its coverage, plane by plane (lens character included).

All tensors channels-first, linear light: colours ``[3,H,W]``, alpha ``[H,W]`` 0..1, radii ``[H,W]``
signed CoC radii in pixels (> 0 behind the focus plane).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import torch
import torch.nn.functional as F

from ..core.fill import push_pull_fill_mask
from .edges import CLEAR, SOLID, edge_px, rim_split
from .tiles import tile_runs

DEPTH_SOLID = 0.5  # the person's depth is taken from pixels at or above this alpha
SMOOTH = 0.05  # how strongly a sharp layer's colours follow their neighbours where the photo cannot tell
MIN_PULL = 1e-4  # the weakest pull, on a layer spread over a large disc
SPLIT_ITERATIONS = 10


def mixed(alpha: torch.Tensor) -> torch.Tensor:
    """``[H,W]`` bool: pixels that mix the person with the background."""
    return (alpha > CLEAR) & (alpha < 1.0 - CLEAR / 4)


def has_layer(alpha: Optional[torch.Tensor]) -> bool:
    """Whether ``alpha`` holds any person at all (otherwise there is nothing to lay over)."""
    return alpha is not None and bool((alpha > CLEAR).any())


def _box(mask: torch.Tensor, grow: int) -> Optional[tuple[int, int, int, int]]:
    """Rows [y0, y1) and columns [x0, x1) of ``mask [H,W]`` grown by ``grow`` px, or None if empty."""
    rows = torch.nonzero(mask.any(1)).flatten()
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.any(0)).flatten()
    H, W = mask.shape
    return (
        max(0, int(rows[0]) - grow),
        min(H, int(rows[-1]) + 1 + grow),
        max(0, int(cols[0]) - grow),
        min(W, int(cols[-1]) + 1 + grow),
    )


@torch.no_grad()
def split_colours(
    lin: torch.Tensor,
    alpha: torch.Tensor,
    fg_radius: Optional[torch.Tensor] = None,
    bg_radius: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background colours ``([3,H,W], [3,H,W])`` with ``alpha·F + (1 − alpha)·B`` = ``lin``.

    Each starts as the push–pull fill of its sure pixels (alpha ≥ ``SOLID``, ≤ ``CLEAR``). In the mixed
    band both are then found per pixel by least squares: the compositing equation plus a pull towards
    their 3×3 neighbourhood means (Jacobi steps, as at one level of Germer et al.'s multilevel foreground
    estimation, 2020), of strength ``SMOOTH``. Where the person will be spread by the lens over a
    sharper background (``fg_radius``, ``bg_radius``: signed CoC radii ``[H,W]`` px; None = both sharp),
    her pull is weakened by the ratio of the two discs' areas, so what the photo cannot tell apart goes
    to her: the lens hides her errors, while the background's would draw a line along her outline."""
    # filled only where they are read: where she is, and as far as the band's steps (SPLIT_ITERATIONS px) and
    # her outline's split (edges.rim_split: edge_px, 1/400 of the long side) reach beyond her
    box = _box(alpha > CLEAR / 4, max(SPLIT_ITERATIONS + 1, edge_px(*alpha.shape)))
    fg = push_pull_fill_mask(lin, alpha >= SOLID, box)  # = lin on her solid pixels (and outside the box)
    bg = push_pull_fill_mask(lin, alpha <= CLEAR, box)  # = lin where she is not
    band = mixed(alpha)
    # the Jacobi steps run on the runs of tiles that hold the band, each grown by the steps' reach: a pixel's
    # value after n steps depends on the pixels within n of it only, so this is the whole frame's result
    solved = []
    for y0, y1, x0, x1 in _tile_runs(band, SPLIT_TILE):
        g = SPLIT_ITERATIONS + 1
        cy0, cy1, cx0, cx1 = max(0, y0 - g), min(band.shape[0], y1 + g), max(0, x0 - g), min(band.shape[1], x1 + g)
        crop = (slice(cy0, cy1), slice(cx0, cx1))
        f, b = _solve_band(
            lin[(slice(None), *crop)],
            alpha[crop],
            band[crop],
            fg[(slice(None), *crop)],
            bg[(slice(None), *crop)],
            None if fg_radius is None else fg_radius[crop],
            None if bg_radius is None else bg_radius[crop],
        )
        inner = (slice(None), slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
        solved.append(((y0, y1, x0, x1), f[inner], b[inner]))
    for (y0, y1, x0, x1), f, b in solved:  # written back once all are solved: each read the first estimates
        # her solid pixels keep the photo's colour (the band reaches a little into them)
        fg[:, y0:y1, x0:x1] = torch.where(alpha[y0:y1, x0:x1] >= SOLID, lin[:, y0:y1, x0:x1], f)
        bg[:, y0:y1, x0:x1] = b
    return fg, bg


def _box3(x: torch.Tensor) -> torch.Tensor:
    """Sums over the 3×3 window of each pixel of ``x [C,h,w]`` (zeros outside): rows, then columns."""
    p = F.pad(x, (1, 1, 1, 1))
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    return rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]


SPLIT_TILE = 64  # tile side (px) of the runs the colour split is solved on


def _tile_runs(mask: torch.Tensor, T: int) -> list[tuple[int, int, int, int]]:
    """Boxes ``(y0, y1, x0, x1)``: the horizontal runs of ``T×T`` tiles of ``mask [H,W]`` holding a set pixel."""
    H, W = mask.shape
    hit = F.max_pool2d(mask[None, None].to(torch.float32), T, stride=T, ceil_mode=True)[0, 0] > 0
    return tile_runs(hit, T, H, W)


def _solve_band(
    image: torch.Tensor,
    a: torch.Tensor,
    inside: torch.Tensor,
    f: torch.Tensor,
    b: torch.Tensor,
    fg_radius: Optional[torch.Tensor],
    bg_radius: Optional[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`split_colours`' Jacobi steps on a crop: ``image``, ``f``, ``b`` ``[3,h,w]``, ``a`` alpha and
    ``inside`` (the band, bool) ``[h,w]``; the radii ``[h,w]`` or None. Returns new ``(f, b)``."""
    a = a.clamp(0, 1)
    c = 1.0 - a
    # a person thrown out of focus over a sharper background takes what cannot be told apart: her
    # errors are spread by the lens, the background's would stay sharp along her outline
    pf: torch.Tensor | float = SMOOTH
    pb = SMOOTH
    if fg_radius is not None and bg_radius is not None:
        spread = ((1.0 + bg_radius.abs()) / (1.0 + fg_radius.abs())) ** 2
        pf = (SMOOTH * spread.clamp(max=1.0)).clamp_min(MIN_PULL)
    det = (a * a + pf) * (c * c + pb) - (a * c) ** 2
    # the per-pixel factors once, then each step a 3×3 mean of both colours and a few products
    ccp, ac, aap = c * c + pb, a * c, a * a + pf
    a_image, c_image = a * image, c * image
    pair = torch.cat([f, b])  # [6,h,w]
    count = _box3(torch.ones_like(a)[None])[0]  # pixels of each 3×3 window inside the crop
    inside = inside.expand(3, -1, -1)
    for _ in range(SPLIT_ITERATIONS):
        mean = _box3(pair).div_(count)
        rf = mean[:3].mul_(pf).add_(a_image)
        rb = mean[3:].mul_(pb).add_(c_image)
        new_f = (ccp * rf).sub_(ac * rb).div_(det).clamp_min_(0)
        new_b = (aap * rb).sub_(ac * rf).div_(det).clamp_min_(0)
        pair[:3] = torch.where(inside, new_f, pair[:3])
        pair[3:] = torch.where(inside, new_b, pair[3:])
    f, b = pair[:3], pair[3:]
    return f, b


def layer_radii(radius: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The person's and the background's signed CoC radius maps ``[H,W]``, each continued across the other.

    The person's comes from her solid pixels (alpha ≥ ``DEPTH_SOLID``), the background's from pixels
    with none of her (alpha ≤ ``CLEAR``); each is push–pull filled elsewhere. The radius is linear in
    1/depth, so this is filling disparity."""
    fg = push_pull_fill_mask(radius[None], alpha >= DEPTH_SOLID)[0]
    bg = push_pull_fill_mask(radius[None], alpha <= CLEAR)[0]
    return fg, bg


def render_two_layers(
    lin: torch.Tensor,
    radius: torch.Tensor,
    alpha: torch.Tensor,
    render: Callable[[torch.Tensor, torch.Tensor, Optional[tuple[int, int, int, int]]], torch.Tensor],
    nearer_wins: Callable[[torch.Tensor], torch.Tensor],
    crop: bool = True,
    fused: bool = True,
) -> torch.Tensor:
    """Linear RGB ``[3,H,W]``: the person (``alpha``) rendered over the background behind her.

    ``radius``: signed CoC radii ``[H,W]`` (px) of the one-depth map; ``render(image [C,h,w], radius
    [h,w], box)`` renders a linear image of C planes (``box`` = where the crop lies in the frame, or None);
    ``nearer_wins``: the renderer's depth-edge rule, applied to each layer's radii. With ``crop`` the
    person's layer is rendered only over her box grown by her largest blur. With ``fused`` her light and
    her coverage are one render of 4 planes (the renderer treats every colour plane alike, so this is
    both renders at once, sharing the layer assignment, the occlusion weights and each tile's FFT);
    otherwise two renders of 3 planes (a lens character's kernels are per RGB plane)."""
    fg_radius, bg_radius = layer_radii(radius, alpha)
    fg_colour, bg_colour = split_colours(lin, alpha, fg_radius, bg_radius)
    alpha, bg_colour = rim_split(lin, alpha, fg_colour, bg_colour, fg_radius, bg_radius)  # her outline, when blurred
    fg_radius, bg_radius = nearer_wins(fg_radius), nearer_wins(bg_radius)
    out = render(bg_colour, bg_radius, None)
    del bg_colour, bg_radius  # freed before the person's passes: peak memory at 8K
    person = alpha > CLEAR / 4
    H, W = alpha.shape
    box = (0, H, 0, W)
    if crop:
        # twice the largest blur: pixels her light reaches then get all the coverage they would in the
        # whole frame (the renderer normalises by it)
        reach = 2 * math.ceil(float(fg_radius.abs().max())) + 4
        box = _box(person, reach) or box
    y0, y1, x0, x1 = box
    a = alpha[y0:y1, x0:x1].where(person[y0:y1, x0:x1], torch.zeros((), dtype=alpha.dtype, device=alpha.device))
    r = fg_radius[y0:y1, x0:x1]
    where = None if box == (0, H, 0, W) else box
    region = out[:, y0:y1, x0:x1]
    if fused:
        planes = torch.cat([fg_colour[:, y0:y1, x0:x1] * a, a[None]])
        del fg_colour
        both = render(planes, r, where)
        del planes
        # the coverage laid over the background, then her light
        region.mul_((1.0 - both[3]).clamp_(0, 1)).add_(both[:3])
        return out
    # the coverage first, laid over the background, then the light: one pass's buffers alive at a time
    coverage = render(a.expand(3, -1, -1), r, where)
    region.mul_((1.0 - coverage).clamp_(0, 1))
    del coverage
    region.add_(render(fg_colour[:, y0:y1, x0:x1] * a, r, where))
    return out
