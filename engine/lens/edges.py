"""Pixels on a depth step: which surface they join, and which are kept out of the background's colour.

A pixel on the outline of a nearer surface mixes its colour with the farther one's (anti-aliasing, hair,
a matte that is a pixel tight). Rendered with the blur of the wrong surface it draws an outline:

- when the nearer surface is the sharper one (focus on the subject), the pixel is kept sharp with it, so
  the subject's colour is not spread into the blurred background behind it;
- when the nearer surface is the more blurred one (a foreground, or a person, thrown out of focus over a
  sharp background), the pixel is *not* given the foreground's blur: the farther surface's colour (a bright
  wall, a lamp behind the hair) would be spread as part of the foreground, a bright outline ring around it.
  It stays with the sharp background, and the background there is filled from its clean surroundings, so
  the foreground's colour does not stay sharp along its outline either.

Radii are signed CoC radii in pixels (> 0 behind the focus plane, < 0 in front), maps ``[H,W]``.
"""

from __future__ import annotations

import torch

from ..core.box_filter import box_mean, dilate
from ..core.min_filter import min_filter_chunks

SOLID = 0.95  # a person's alpha at or above which a pixel's colour is hers alone
CLEAR = 0.02  # a person's alpha at or below which a pixel is background only

EDGE_FRACTION = 1 / 400  # a matte's edge is trusted to within this share of the frame's long side (≥ 1 px)
AROUND = 4  # × edge_px: the window the clean background beside her outline is taken from
OFF_LINE = 1.5  # a pixel farther than this × |F − B| off the line between them is no mix of the two (a lamp)


def sharper_wins(radius: torch.Tensor) -> torch.Tensor:
    """``[H,W]``: each pixel's signed radius, or the nearest radius of its 3×3 neighbourhood where that nearer
    surface is also the sharper one (``|nearest| < |radius|``).

    Behind the focus plane nearer is sharper, and a depth edge's pixels join the nearer surface (as a 3×3
    minimum filter does); in front of it they keep their own, farther and sharper, radius."""
    out = torch.empty_like(radius)
    for y0, y1, nearest in min_filter_chunks(radius, 1):
        r = radius[y0:y1]
        out[y0:y1] = torch.where(nearest.abs() < r.abs(), nearest, r)
    return out


def edge_px(H: int, W: int) -> int:
    """How far (px) a matte's edge may be off in an ``H×W`` frame: ``EDGE_FRACTION`` of the long side, ≥ 1."""
    return max(1, round(EDGE_FRACTION * max(H, W)))


def rim_split(
    lin: torch.Tensor,
    alpha: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    fg_radius: torch.Tensor,
    bg_radius: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The person's alpha ``[H,W]`` and the background's colour ``[3,H,W]`` along her outline, where she will be
    blurred more than the background behind her.

    ``lin``: the photo, ``fg``, ``bg``: her colour and the background's (linear light, ``[3,H,W]``, from
    ``two_layer.split_colours``); ``fg_radius``, ``bg_radius``: her and the background's signed radius maps.
    There the background stays sharp, so any of her colour left in it (a matte a pixel tight, or an alpha a
    little low) would stay as a thin outline around her blur. On her outline (her alpha below ``SOLID``,
    within :func:`edge_px` of her) the background is the mean of the clean background around it (within
    ``AROUND`` × :func:`edge_px`) and her share of each pixel comes from its colour: the projection of the
    pixel on the line from that background to her colour, ((I − B)·(F − B)) / |F − B|², clamped to 0..1. A pixel
    of her outline joins her blur with its light; a pixel of plain background keeps its own sharp colour (I = B
    there); a pixel far off the line (farther than ``OFF_LINE`` × |F − B|: a lamp beside her) is no mix of the two
    and is left as it was."""
    k = edge_px(*alpha.shape)
    near = dilate((alpha > CLEAR)[None], k)[0]
    rim = near & (alpha < SOLID) & (fg_radius.abs() > bg_radius.abs() + 1.0)
    if not bool(rim.any()):
        return alpha, bg
    rows = torch.nonzero(rim.any(1)).flatten()
    cols = torch.nonzero(rim.any(0)).flatten()
    H, W = alpha.shape
    g = AROUND * k  # her outline's box, with room to find the clean background around it
    y0, y1 = max(0, int(rows[0]) - g), min(H, int(rows[-1]) + 1 + g)
    x0, x1 = max(0, int(cols[0]) - g), min(W, int(cols[-1]) + 1 + g)
    on = rim[y0:y1, x0:x1]
    clean = ((alpha[y0:y1, x0:x1] <= CLEAR) & ~on).to(lin.dtype)
    image = lin[:, y0:y1, x0:x1]
    # the clean background around each pixel: a normalised box filter (running sums: O(1) per pixel)
    weight = box_mean(clean[None, None], g)[0, 0]
    b = box_mean((image * clean)[None], g)[0].div_(weight.clamp_min(1e-6))
    on &= weight > 1e-3  # deep in her hair with no clean background near: the split's own colours stand
    d = fg[:, y0:y1, x0:x1] - b
    off = image - b
    dd = (d * d).sum(0).clamp_min(1e-6)
    share = (off * d).sum(0).div_(dd).clamp_(0, 1)
    # a pixel far off that line is neither (a lamp beside her, another object): it keeps its own split
    off.sub_(d * share)
    on &= (off * off).sum(0) <= OFF_LINE**2 * dd
    alpha, bg = alpha.clone(), bg.clone()
    alpha[y0:y1, x0:x1] = torch.where(on, share, alpha[y0:y1, x0:x1])
    bg[:, y0:y1, x0:x1] = torch.where(on, b, bg[:, y0:y1, x0:x1])
    return alpha, bg
