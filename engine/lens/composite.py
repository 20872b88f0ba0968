"""One blurred depth layer laid over the accumulated image, with occlusion decided per pixel.

Far-to-near ``over`` compositing of premultiplied layers (Porter & Duff 1984) in which a layer covers
what lies behind only where it is really in front of it; where it is not (the same surface split
between neighbouring layers), the light adds up. Before it is covered, what lies behind an occluding
layer is normalised by its coverage: holes that nearer pixels left in it are filled from the content
around them (normalised convolution, Knutsson & Westin 1993: the blur of colour·coverage divided by
the blur of coverage).

Planes as in ``planes``: the accumulator's plane 4 is ``RADIUS_SUM``, a layer's is ``OCCLUDING``.
"""

from __future__ import annotations

import torch

from .layers import layer_spacing_scale
from .planes import COVERAGE, LIGHT, OCCLUDING, RADIUS_SUM, RGB, planes

NO_LIGHT = 1e-5  # blurred coverage at or below this is FFT round-off: no light there


def drop_round_off(blurred: torch.Tensor) -> torch.Tensor:
    """Clamp a blurred layer ``[5,h,w]`` at 0 and clear its light where its coverage is round-off, in place.

    The FFT leaves ~1e-7 light where there is no coverage; dropping it keeps colour and coverage
    consistent (normalisation would otherwise amplify the round-off)."""
    blurred = blurred.clamp_min_(0)
    blurred[LIGHT].masked_fill_(planes(blurred, COVERAGE) <= NO_LIGHT, 0.0)
    return blurred


def composite(region: torch.Tensor, blurred: torch.Tensor, rk: float, settings) -> None:
    """Lay one blurred layer over ``region`` of the accumulator, in place.

    region: ``[5,h,w]`` premultiplied RGB, coverage, ``RADIUS_SUM``; blurred (same shape): premultiplied RGB,
    coverage, ``OCCLUDING`` coverage; ``rk``: the layer's signed radius (px); ``settings``: the
    ``RenderSettings`` (coverage floor, occlusion gap).

    Per pixel, the occlusion weight o says whether this layer is really in front of what has been
    laid down there (its radius smaller by more than the gap) or part of the same surface. Where it
    occludes, what lies behind is first normalised by its coverage (holes left by nearer pixels are
    filled from the background around them) and then covered ``over``; where it does not, light adds
    up (a continuous surface split into layers must not dim or brighten at the layer seams).
    """
    floor = settings.coverage_floor
    rgb, cov, rsum = (planes(region, p) for p in (RGB, COVERAGE, RADIUS_SUM))
    behind_r = rsum / cov.clamp_min(1e-6)
    # the gap follows the layer spacing where this layer sits: among the half-pixel layers near focus it is
    # halved, so a sharp subject covers even a slightly defocused background completely
    gap_px = settings.occlusion_gap_px * layer_spacing_scale(rk)
    gap = behind_r.abs().mul_(settings.occlusion_gap_ratio).add_(gap_px)
    # o = clamp((behind_r - rk - gap) / gap, 0, 1) · [cov > NO_LIGHT]
    o = behind_r.sub_(rk).sub_(gap).div_(gap).clamp_(0, 1).masked_fill_(cov <= NO_LIGHT, 0.0)
    del gap
    # fill holes behind an occluding layer (blend towards the coverage-normalised content,
    # scale = 1 + o·(1/cov − 1)), then cover it by the layer's occluding coverage (keep = 1 − o·occ);
    # both factors applied at once
    scale = cov.clamp_min(floor).reciprocal_().sub_(1.0).mul_(o).add_(1.0)
    factor = planes(blurred, OCCLUDING).clamp(0, 1).mul_(o).neg_().add_(1.0).mul_(scale)
    del o, scale
    a = planes(blurred, COVERAGE)
    rgb.mul_(factor).add_(planes(blurred, RGB))
    cov.mul_(factor).add_(a)
    rsum.mul_(factor).add_(a, alpha=rk)
