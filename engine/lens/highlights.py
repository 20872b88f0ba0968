"""Clipped lights rebuilt before the blur, and how a lighting setup (LIGHTING) sets their colour and gain.

A light source clipped at display white carries far more energy than its pixel says; blurred as it is,
it would spread into a dull grey disc. Each compact clipped highlight that the lens puts out of focus is
taken as one light (its clipped pixels, 8-connected): its energy is its clipped extent times a prior on how
far past white a photo's lights are (``HighlightRebuild.boost``: a fully clipped light pixel holds
``1 + boost`` times white, in a night exposure: a light on a brighter surround, in a photo exposed for
daylight, lies proportionally less far past white, ``exposure_share``), so its disc dims with its area as a
real lamp's does, from that brightness down; its colour is the LIGHTING's when one is connected, else
that of the light's own unclipped fringe (the pixels around it that hold its light without clipping: a
warm bulb's fringe is warm where its clipped core is white). A light in focus (CoC radius under a pixel)
is left exactly as it came.

What counts as a light: clipped in luminance (a saturated orange or warm skin, bright in one channel, is
not) and compact next to the blur it gets (a white shirt or a bright wall thrown out of focus is a diffuse
surface: the lens only spreads its light, so it keeps its mean colour). People are surfaces too: what
clips on a person (skin sheen, teeth, white clothes, the studio light's reflection in what she holds) is a
reflection of the lights, not one, so where DEPTH knows the people (a portrait prior's layer alpha)
nothing is rebuilt: a person thrown out of focus keeps her mean colour, and the lights behind her still
become discs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..core.colour import linear_to_srgb, luminance, srgb_to_linear
from ..lighting.setup import LightingSetup

# Compactness: the share of clipped pixels in a square of half-size COMPACT_WINDOW × the pixel's CoC radius.
# Up to COMPACT_FULL it is a light, rebuilt in full (a round light up to about one CoC radius across); from
# COMPACT_NONE on it is a surface (every pixel of an extended region, its corners included, has a quarter
# of such a window or more clipped).
COMPACT_WINDOW = 2.0
COMPACT_FULL = 0.05
COMPACT_NONE = 0.2
# The prior on a light's brightness: a fully clipped light pixel holds 1 + LIGHT_BOOST times display white.
# Street lamps, bulbs and lit windows in an exposure for a face are tens of times past white.
LIGHT_BOOST = 32.0
# The fringe a light's colour is read from: unclipped pixels within FRINGE_PX (Chebyshev) of its clipped
# pixels; what lies around it, at BACKGROUND_PX, is taken off. A fringe holding less light than FRINGE_MIN
# (linear luminance above the background, mean per fringe pixel: a few 8-bit steps in the dark) plus
# FRINGE_CONTRAST of the background's says nothing about the colour.
FRINGE_PX = 2
BACKGROUND_PX = 6
FRINGE_MIN = 0.0005
FRINGE_CONTRAST = 0.15
# The prior holds for lights of up to POINT_AREA of the frame (about 3 × 4 px at 640 × 480: a bulb, a street
# lamp); a wider clipped light (a lit window, a lampshade) is an extended source, less far past white: its
# prior falls as the square root of its area beyond that.
POINT_AREA = 4e-5
EDGE_COVER = 0.5  # the share of a clipped light's edge pixel it covers, on average
# The exposure the photo was taken for (``exposure_share``): a light whose surroundings have a linear
# luminance up to SURROUND_FULL (a night street, a dim room) gets the whole prior; brighter surroundings (a
# lit wall, daylight), proportionally less. One prior cannot know every scene's lamps: at 0.06 the
# point-light reference and the daylight portrait scenes both score within 0.2 dB of the former gain cap
# (benchmarks/bench_bokeh.py --only quality, bench_portrait_chain.py), and every night scene's lights
# (surroundings 0.01-0.03) keep the whole prior.
SURROUND_FULL = 0.06


@dataclass(frozen=True)
class HighlightRebuild:
    """How clipped highlights are rebuilt before blurring.

    threshold: display-referred luminance Y' (0..1) above which a pixel counts as clipped, measured in
        the light's own white (``colour``'s, else display white).
    boost: the prior on how far past white the photo's lights are: a fully clipped pixel of an out-of-focus
        light holds ``1 + boost`` times its clipped value (0 = off).
    colour: optional linear RGB (luminance 1) that lights take (from a LIGHTING), else their fringe's.
    """

    threshold: float = 0.9
    boost: float = LIGHT_BOOST
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


def _ring(d: int) -> list[tuple[int, int]]:
    """The offsets ``(dy, dx)`` at Chebyshev distance ``d``."""
    return [(dy, dx) for dy in range(-d, d + 1) for dx in range(-d, d + 1) if max(abs(dy), abs(dx)) == d]


def _find(sorted_idx: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of flat indices ``q`` in ``sorted_idx`` and whether each is there."""
    if sorted_idx.numel() == 0:
        return torch.zeros_like(q), torch.zeros_like(q, dtype=torch.bool)
    j = torch.searchsorted(sorted_idx, q).clamp_(max=sorted_idx.numel() - 1)
    return j, sorted_idx[j] == q


def _shifted(idx: torch.Tensor, dy: int, dx: int, H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices ``[N]`` of the pixels ``(dy, dx)`` from ``idx`` and whether each lies in the frame."""
    y, x = idx // W + dy, idx % W + dx
    return y * W + x, (y >= 0) & (y < H) & (x >= 0) & (x < W)


def _cover(idx: torch.Tensor, clipped_idx: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """How much of each pixel at flat ``idx [N]`` the light covers, as far as the photo tells: 1 inside a
    clipped region, ``EDGE_COVER`` on its edge (a 4-neighbour unclipped: the light's outline crosses the
    pixel, which clipped because the light is bright, not because it fills it)."""
    edge = torch.zeros(idx.numel(), dtype=torch.bool, device=idx.device)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        q, inside = _shifted(idx, dy, dx, H, W)
        _, there = _find(clipped_idx, q)
        edge |= inside & ~there
    return torch.where(edge, EDGE_COVER, 1.0).to(torch.float32)


def light_components(idx: torch.Tensor, H: int, W: int, max_rounds: int = 64) -> tuple[torch.Tensor, int]:
    """Which light each pixel at sorted flat ``idx [N]`` belongs to: its 8-connected component, ``[N]`` labels
    0..K−1, and K. Minimum-label propagation over neighbour pairs with pointer jumping (a few rounds for
    compact lights; ``max_rounds`` bounds a long thin one, which then counts as several)."""
    n = idx.numel()
    lab = torch.arange(n, device=idx.device)
    src, dst = [], []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        q, inside = _shifted(idx, dy, dx, H, W)
        j, there = _find(idx, q)
        ok = torch.nonzero(inside & there).squeeze(1)
        src.append(ok)
        dst.append(j[ok])
    a, b = torch.cat(src), torch.cat(dst)
    if a.numel() > 0:
        for _ in range(max_rounds):
            m = torch.minimum(lab[a], lab[b])
            new = lab.clone().scatter_reduce_(0, a, m, "amin").scatter_reduce_(0, b, m, "amin")
            new = new[new][new]
            if torch.equal(new, lab):
                break
            lab = new
    uniq, inverse = torch.unique(lab, return_inverse=True)
    return inverse, int(uniq.numel())


def ring_sums(
    flat: torch.Tensor,
    idx: torch.Tensor,
    clipped_idx: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    H: int,
    W: int,
    ring: list[tuple[int, int]],
) -> torch.Tensor:
    """``[4,K]``: per light, the summed linear RGB and the count of the unclipped pixels at the offsets
    ``ring`` from its pixels (``idx [N]``, sorted flat, with ``labels [N]`` 0..K−1); a pixel of
    ``clipped_idx`` (sorted) is never a sample."""
    acc = torch.zeros(4, k, dtype=flat.dtype, device=flat.device)
    for dy, dx in ring:
        q, inside = _shifted(idx, dy, dx, H, W)
        _, there = _find(clipped_idx, q)
        ok = torch.nonzero(inside & ~there).squeeze(1)
        lab = labels[ok]
        acc[:3].index_add_(1, lab, flat[:, q[ok]])
        acc[3].index_add_(0, lab, torch.ones(ok.numel(), dtype=flat.dtype, device=flat.device))
    return acc


def surround_of(
    flat: torch.Tensor, idx: torch.Tensor, clipped_idx: torch.Tensor, labels: torch.Tensor, k: int, H: int, W: int
) -> torch.Tensor:
    """``[4,K]`` sums of what lies around each light, at ``BACKGROUND_PX`` from its pixels (``ring_sums``)."""
    return ring_sums(flat, idx, clipped_idx, labels, k, H, W, _ring(BACKGROUND_PX))


def fringe_colours(
    flat: torch.Tensor,
    idx: torch.Tensor,
    clipped_idx: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    H: int,
    W: int,
    surround: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each light's colour from its unclipped fringe: ``([3,K]`` linear RGB of luminance 1, ``[K]`` 0..1 how
    sure). ``flat [3,H·W]`` linear image; ``idx [N]`` the lights' pixels (sorted flat indices) with
    ``labels [N]`` (0..K−1); ``clipped_idx`` (sorted) every clipped pixel, which no fringe sample may be.

    The fringe is what lies within ``FRINGE_PX`` of a light's pixels without clipping, the background what
    lies at ``BACKGROUND_PX`` (``surround``, when the caller has it from ``surround_of``); the light's own
    share of the fringe is their difference (channels ≥ 0)."""
    dt = flat.dtype
    f = ring_sums(flat, idx, clipped_idx, labels, k, H, W, [o for d in range(1, FRINGE_PX + 1) for o in _ring(d)])
    b = surround if surround is not None else surround_of(flat, idx, clipped_idx, labels, k, H, W)
    excess = (f[:3] / f[3:].clamp_min(1.0) - b[:3] / b[3:].clamp_min(1.0)).clamp_min(0.0)
    lum = luminance(excess.T, dim=-1)
    floor = FRINGE_MIN + FRINGE_CONTRAST * luminance((b[:3] / b[3:].clamp_min(1.0)).T, dim=-1)
    sure = ((lum / floor) - 1.0).clamp(0.0, 1.0) * (f[3] > 0).to(dt)
    return excess / lum.clamp_min(1e-6), sure


def exposure_share(surround: torch.Tensor) -> torch.Tensor:
    """``[K]`` 0..1: how much of the brightness prior holds for each light, from the mean linear luminance of
    what surrounds it (``surround [4,K]``, ``surround_of``). A lamp's own luminance is fixed; the exposure
    follows the scene: the same lamp lies far past white in a night street exposed for its dim
    surroundings, and only a few times past white on a sunlit wall. The share is
    min(1, ``SURROUND_FULL`` / Y_surround): the exposure scales inversely with the surroundings' luminance."""
    mean = (surround[:3] / surround[3:].clamp_min(1.0)).T
    y = luminance(mean, dim=-1).clamp_min(1e-6)
    return (SURROUND_FULL / y).clamp(max=1.0)


def rebuild_highlights(
    lin: torch.Tensor,
    radius: torch.Tensor,
    hl: HighlightRebuild,
    display_max: Optional[torch.Tensor] = None,
    people: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Rebuild the clipped lights of linear ``lin [3,H,W]`` that ``radius [H,W]`` (CoC radius, px) puts out
    of focus.

    A pixel is clipped when its display luminance Y' = sRGB(Y), in the light's white, exceeds the
    threshold t (``clip_level``): how far it is clipped sets the gain, 1 + boost·c^p with
    c = (Y' − t)/(1 − t), scaled by how out of focus the pixel is (``blur_weight_at``: none under a 1 px
    CoC radius) and by how compact its clipped neighbourhood is next to its CoC (``compactness_at``):
    saturated colours and extended clipped surfaces keep their light. The rebuilt light takes, keeping its
    luminance, the highlight colour (a LIGHTING's) when there is one, else the colour of its light's
    unclipped fringe (``fringe_colours``), blended in by how clipped and how much a light the pixel is.

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
    clipped_idx = idx
    clipped = torch.zeros(H * W, dtype=torch.bool, device=lin.device)
    clipped[idx] = True
    r = radius.reshape(-1)[idx].abs()
    weight = blur_weight_at(radius, idx) * compactness_at(clipped.view(H, W), idx, COMPACT_WINDOW * r, W)
    if people is not None:
        weight = weight * (1.0 - people.reshape(-1)[idx].to(weight).clamp(0.0, 1.0))
    live = weight > 0  # in focus, a surface or on a person: left exactly as it came
    idx, over, weight = idx[live], over[live], weight[live]
    if idx.numel() == 0:
        return lin
    px = flat[:, idx]
    labels, k = light_components(idx, H, W)
    size = torch.bincount(labels, minlength=k).to(lin.dtype)[labels] / float(H * W)  # each light's share of the frame
    point = (POINT_AREA / size).sqrt().clamp(max=1.0)  # the prior holds for a point source, falls for a wide one
    surround = surround_of(flat, idx, clipped_idx, labels, k, H, W)
    point = point * exposure_share(surround)[labels]  # a night scene's lights lie farther past white
    gain = 1.0 + hl.boost * point * over**hl.exponent * weight * _cover(idx, clipped_idx, H, W)
    mix = (over * weight).unsqueeze(0)  # towards the light's colour by how clipped and how much a light
    if hl.colour is None:
        colours, sure = fringe_colours(flat, idx, clipped_idx, labels, k, H, W, surround)
        col = colours[:, labels]
        mix = mix * sure[labels].unsqueeze(0)
    else:
        col = torch.tensor(hl.colour, dtype=lin.dtype, device=lin.device).view(3, 1)
        col = col / luminance(col.view(1, 3), dim=-1).clamp_min(1e-6)
    tinted = luminance(px, dim=0).unsqueeze(0) * col
    flat[:, idx] = ((1 - mix) * px + mix * tinted) * gain
    return lin
