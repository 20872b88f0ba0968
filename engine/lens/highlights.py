"""Clipped highlights rebuilt before the blur, and how a lighting setup (LIGHTING) sets their colour and gain.

A light source clipped at display white carries far more energy than its pixel says; blurred as it is,
it would spread into a dull grey disc. Out-of-focus *lights* are brightened before the scatter, so their
discs come out bright (in focus nothing changes). What counts as a light: clipped in luminance (a
saturated orange or warm skin, bright in one channel, is not) and compact next to the blur it gets (a
white shirt or a bright wall thrown out of focus is a diffuse surface: the lens only spreads its light,
so it keeps its mean colour). People are surfaces too: what clips on a person (skin sheen, teeth, white
clothes, the studio light's reflection in what she holds) is a reflection of the lights, not one, so
where DEPTH knows the people (a portrait prior's layer alpha) nothing is rebuilt: a person thrown out of
focus keeps her mean colour, and the lights behind her still become discs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..colour import linear_to_srgb, luminance, srgb_to_linear
from ..lighting.setup import LightingSetup

# Compactness: the share of clipped pixels in a square of half-size COMPACT_WINDOW × the pixel's CoC radius.
# Up to COMPACT_FULL it is a light, rebuilt in full (a round light up to about one CoC radius across); from
# COMPACT_NONE on it is a surface (every pixel of an extended region, its corners included, has a quarter
# of such a window or more clipped).
COMPACT_WINDOW = 2.0
COMPACT_FULL = 0.05
COMPACT_NONE = 0.2


@dataclass(frozen=True)
class HighlightRebuild:
    """How clipped highlights are rebuilt before blurring.

    threshold: display-referred luminance Y' (0..1) above which a pixel counts as clipped, measured in
        the light's own white (``colour``'s, else display white).
    boost: extra gain at full clipping (a clipped light becomes up to ``1 + boost`` times brighter).
    colour: optional linear RGB (luminance 1) that highlights take (from a LIGHTING), else their own.
    """

    threshold: float = 0.9
    boost: float = 8.0
    colour: Optional[tuple[float, float, float]] = None
    exponent: float = 2.0

    @property
    def enabled(self) -> bool:
        return self.boost > 0 and self.threshold < 1.0


def highlights_under(lighting: Optional[LightingSetup], threshold: float, boost: float) -> HighlightRebuild:
    """The highlight rebuild for display threshold ``threshold`` (0..1) and gain
    ``boost``: without lighting, highlights keep their own colour; with it, they take the setup's
    highlight colour (linear RGB) and its intensity multiplies the gain."""
    if lighting is None:
        return HighlightRebuild(threshold, boost, None)
    r, g, b = lighting.highlight_rgb
    return HighlightRebuild(threshold, boost * lighting.highlight_intensity, (r, g, b))


def blur_weight_at(radius: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """How out of focus the pixels at flat ``index`` of ``radius [H,W]`` (signed CoC radius, px) are:
    0 up to a 1 px CoC radius, 1 from 3 px."""
    return radius.reshape(-1)[index].abs().sub_(1.0).div_(2.0).clamp_(0.0, 1.0)


def light_white(hl: HighlightRebuild, like: torch.Tensor) -> torch.Tensor:
    """``[3,1]`` linear RGB of a clipped light, brightest channel 1: the highlight colour's (a light under
    a lighting setup clips to its colour, not to display white), else white."""
    if hl.colour is None:
        return torch.ones(3, 1, dtype=like.dtype, device=like.device)
    col = torch.tensor(hl.colour, dtype=like.dtype, device=like.device).view(3, 1).clamp_min(1e-6)
    return col / col.max()


def clip_level(px: torch.Tensor, threshold: float, white: torch.Tensor) -> torch.Tensor:
    """How far linear pixels ``px [3,N]`` are clipped, 0..1: the excess of their display luminance Y',
    measured with ``white [3,1]`` as white, over ``threshold``, of what is left to 1. A saturated colour at
    the top of one channel, or bright skin below clipping, is not clipped; a light at display white is."""
    y_disp = linear_to_srgb(luminance(px / white, dim=0))
    return ((y_disp - threshold) / (1.0 - threshold)).clamp(0.0, 1.0)


def compactness_at(clipped: torch.Tensor, index: torch.Tensor, half_size: torch.Tensor, width: int) -> torch.Tensor:
    """How much like a light source (1) rather than a clipped surface (0) the pixels at flat ``index``
    are: from the share of clipped pixels (``clipped [H,W]`` bool) in a square of ``half_size`` px
    (clipped at the borders) around each, via one summed-area table."""
    H = clipped.shape[0]
    sat = torch.zeros(H + 1, width + 1, dtype=torch.int32, device=clipped.device)
    sat[1:, 1:] = clipped.to(torch.int32).cumsum(0, dtype=torch.int32).cumsum(1, dtype=torch.int32)
    y, x = index // width, index % width
    s = half_size.round().clamp(min=1).to(torch.long)
    y0, y1 = (y - s).clamp(min=0), (y + s + 1).clamp(max=H)
    x0, x1 = (x - s).clamp(min=0), (x + s + 1).clamp(max=width)
    count = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
    share = count.to(half_size.dtype) / ((y1 - y0) * (x1 - x0)).to(half_size.dtype)
    return ((COMPACT_NONE - share) / (COMPACT_NONE - COMPACT_FULL)).clamp(0.0, 1.0)


def rebuild_highlights(
    lin: torch.Tensor,
    radius: torch.Tensor,
    hl: HighlightRebuild,
    display_max: Optional[torch.Tensor] = None,
    people: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Brighten the clipped lights of linear ``lin [3,H,W]`` that ``radius [H,W]`` (CoC radius, px)
    puts out of focus.

    A pixel is clipped when its display luminance Y' = sRGB(Y), in the light's white, exceeds the
    threshold t (``clip_level``): how far it is clipped sets the gain, 1 + boost·c^p with
    c = (Y' − t)/(1 − t), scaled by how out of focus the pixel is (``blur_weight_at``) and by how compact its
    clipped neighbourhood is next to its CoC (``compactness_at``): saturated colours and extended
    clipped surfaces keep their light. With a highlight colour the rebuilt light takes that
    chromaticity, keeping its luminance.

    Only pixels that can be clipped are computed (highlights are sparse); ``display_max [H,W]``, the
    brightest sRGB channel if the caller has it, picks them without re-encoding the whole image.
    ``people [H,W]`` 0..1 (the people's alpha, when known) scales the gain by 1 − alpha: people carry
    reflections of lights, not lights. ``lin`` is updated in place and returned.
    """
    if not hl.enabled:
        return lin
    t = hl.threshold
    _, H, W = lin.shape
    flat = lin.view(3, -1)
    if display_max is None:
        display_max = linear_to_srgb(lin.amax(dim=0))
    white = light_white(hl, lin)
    # candidates: Y' in the light's white is at most the brightest channel over the dimmest white channel;
    # a margin for the round trip through linear light. Y' itself is computed below.
    t_linear = float(srgb_to_linear(torch.tensor([t], dtype=torch.float64)))
    pick = float(linear_to_srgb(torch.tensor([t_linear * float(white.min())], dtype=torch.float64)))
    idx = torch.nonzero(display_max.reshape(-1) > pick - 1e-3).squeeze(1)
    if idx.numel() == 0:
        return lin
    over = clip_level(flat[:, idx], t, white)
    keep = over > 0
    idx, over = idx[keep], over[keep]
    if idx.numel() == 0:
        return lin
    px = flat[:, idx]
    clipped = torch.zeros(H * W, dtype=torch.bool, device=lin.device)
    clipped[idx] = True
    r = radius.reshape(-1)[idx].abs()
    weight = blur_weight_at(radius, idx) * compactness_at(clipped.view(H, W), idx, COMPACT_WINDOW * r, W)
    if people is not None:
        weight = weight * (1.0 - people.reshape(-1)[idx].to(weight).clamp(0.0, 1.0))
    gain = 1.0 + hl.boost * over**hl.exponent * weight
    if hl.colour is None:
        flat[:, idx] = px * gain
        return lin
    col = torch.tensor(hl.colour, dtype=lin.dtype, device=lin.device).view(3, 1)
    col = col / luminance(col.view(1, 3), dim=-1).clamp_min(1e-6)
    # blend towards the illuminant's chromaticity by how far into the highlight range the pixel is
    mix = (over * weight).unsqueeze(0)
    tinted = luminance(px, dim=0).unsqueeze(0) * col
    flat[:, idx] = ((1 - mix) * px + mix * tinted) * gain
    return lin
