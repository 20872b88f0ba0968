"""Clipped highlights rebuilt before the blur, and how a lighting setup (LIGHTING) sets their colour and gain.

A light source clipped at display white carries far more energy than its pixel says; blurred as it is,
it would spread into a dull grey disc. Out-of-focus highlights are brightened before the scatter, so
their discs come out bright (in focus nothing changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch

from ..colour import linear_to_srgb, luminance
from ..lighting.setup import LightingSetup


@dataclass(frozen=True)
class HighlightRebuild:
    """How clipped highlights are rebuilt before blurring.

    threshold: display-referred value (brightest channel, 0..1) above which a pixel counts as a highlight.
    boost: extra gain at full clipping (a clipped pixel becomes up to ``1 + boost`` times brighter).
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
    """The highlight rebuild for display threshold ``threshold`` (0..1, brightest channel) and gain
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


def rebuild_highlights(
    lin: torch.Tensor,
    blur_weight: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    hl: HighlightRebuild,
    display_max: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Brighten clipped highlights of linear ``lin [3,H,W]`` where ``blur_weight [H,W]`` (0..1) says out of focus
    (or a function giving the weights at flat pixel indices, so that only the highlights' are computed).

    A pixel is a highlight by its brightest channel in display terms, V' = max(R', G', B') (a light
    clipped in one channel is clipped all the same). Gain = 1 + boost·((V' − t)/(1 − t))^p above the
    threshold t. With a highlight colour the rebuilt light takes that chromaticity, keeping its
    luminance; the intensity follows the gain.

    Only pixels above the threshold change, so only they are computed (highlights are sparse);
    ``display_max [H,W]``, the brightest sRGB channel if the caller has it, picks them without
    re-encoding the whole image. ``lin`` is updated in place and returned.
    """
    if not hl.enabled:
        return lin
    t = hl.threshold
    flat = lin.view(3, -1)
    if display_max is None:
        display_max = linear_to_srgb(lin.amax(dim=0))
    # candidates with a margin for the round trip through linear light; V' itself is re-encoded below
    idx = torch.nonzero(display_max.reshape(-1) > t - 1e-3).squeeze(1)
    if idx.numel() == 0:
        return lin
    px = flat[:, idx]
    v_disp = linear_to_srgb(px.amax(dim=0))
    over = ((v_disp - t) / (1.0 - t)).clamp(0.0, 1.0)
    bw = blur_weight(idx) if callable(blur_weight) else blur_weight.reshape(-1)[idx]
    gain = 1.0 + hl.boost * over**hl.exponent * bw
    if hl.colour is None:
        flat[:, idx] = px * gain
        return lin
    col = torch.tensor(hl.colour, dtype=lin.dtype, device=lin.device).view(3, 1)
    col = col / luminance(col.view(1, 3), dim=-1).clamp_min(1e-6)
    # blend towards the illuminant's chromaticity by how far into the highlight range the pixel is
    mix = (over * bw).unsqueeze(0)
    tinted = luminance(px, dim=0).unsqueeze(0) * col
    flat[:, idx] = ((1 - mix) * px + mix * tinted) * gain
    return lin
