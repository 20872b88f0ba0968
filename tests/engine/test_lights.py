"""Lights at night against the exact thin lens: clipped lamps at several distances rebuilt as lights (energy
from the brightness prior, colour from their fringe or the LIGHTING), lamps in focus left alone, and the key
light following the people's soft alpha. Exact images: ``validation.night`` (each lamp's light followed
through the aperture; the wall behind them is uniform, so its defocused image is itself)."""

import math

import pytest
import torch

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.lens import HighlightRebuild, LensSettings, ThinLens, render_lens_bokeh
from portraitos.engine.lens.highlights import light_components
from portraitos.engine.lighting import LightingParams, relight, resolve_setup
from portraitos.validation.night import (
    AMBER,
    COOL,
    GREEN,
    WARM,
    Lamp,
    camera_glare,
    lamp_region,
    masked_psnr,
    render_lamps,
    with_lamps,
)
from portraitos.validation.reference import card, render_pinhole, to_photo

H, W = 160, 240
WALL = 0.004  # the dim wall's linear radiance
FOCUS_M = 2.0


def _uniform(x, y):
    return torch.full((*x.shape, 3), WALL, dtype=x.dtype), torch.ones_like(x)


def _lamps(scale: float = 1.0) -> list[Lamp]:
    """Lamps 2 px across at 3.5, 6, 10 and 18 m (radiance 25–80 × white, times ``scale``), two in the focus
    plane."""
    out = [Lamp(-300.0, -120.0, FOCUS_M, 4.0, 30.0, WARM), Lamp(280.0, 150.0, FOCUS_M, 4.0, 50.0, COOL)]
    for j, (z, colour, radiance) in enumerate(
        ((3.5, AMBER, 25.0), (6.0, WARM, 40.0), (10.0, COOL, 60.0), (18.0, GREEN, 80.0))
    ):
        fx, fy = 18.0 * z * 1000 / 88.8, 12.0 * z * 1000 / 88.8
        for k in range(2):
            out.append(
                Lamp((-0.55 + 1.1 * k + 0.1 * j) * fx, (-0.6 + 0.4 * j) * fy, z, 1.8 * z, scale * radiance, colour)
            )
    return out


def _night(scale: float):
    """(photo ``[H,W,3]`` sRGB, true depth ``[H,W]`` m, exact defocus at f/1.2 sRGB, lamps, lens): the photo and
    the exact image through the same camera glare (a lamp keeps an unclipped fringe of its colour)."""
    lamps = _lamps(scale)
    lens = ThinLens(85.0, 1.2, FOCUS_M)
    planes = [card(20.0, _uniform)]
    lin, depth = render_pinhole(with_lamps(planes, lamps), lens, H, W, pixel_samples=8)
    exact = torch.full((H, W, 3), WALL) + render_lamps(planes, lamps, lens, H, W, samples=20000)
    return to_photo(camera_glare(lin)), depth, to_photo(camera_glare(exact)), lamps, lens


@pytest.fixture(scope="module")
def night():
    return _night(1.0)


@pytest.fixture(scope="module")
def dim_night():
    """The same lamps at half the radiance: their discs stay below white, where colour can be compared."""
    return _night(0.5)


def test_lamps_at_every_distance_come_close_to_the_exact_lens(night):
    """The lamps' discs against the exact lens: better than the photo's own clipped value spread (no rebuild)
    and than a prior of 8 × white (about the former capped gain, 1 + 8·c²), by several dB."""
    photo, depth, exact, lamps, lens = night
    region = lamp_region([lp for lp in lamps if lp.z_m != FOCUS_M], lens, H, W)
    settings = LensSettings(85.0, 1.2, FOCUS_M)

    def score(hl):
        out = render_lens_bokeh(photo[None], depth[None], settings, highlights=hl).image[0]
        return masked_psnr(out, exact, region)

    now, capped, none = (
        score(HighlightRebuild()),
        score(HighlightRebuild(boost=8.0)),
        score(HighlightRebuild(boost=0.0)),
    )
    assert now > capped + 2.5, (now, capped)
    assert now > none + 4.0, (now, none)


def test_lamps_take_their_fringe_colour_or_the_lighting(dim_night):
    """Without a LIGHTING each lamp's disc has the colour of the lamp (its clipped core is white in the photo;
    the fringe holds the colour); with one, the lighting's highlight colour."""
    photo, depth, exact, lamps, lens = dim_night
    settings = LensSettings(85.0, 1.2, FOCUS_M)
    prior = HighlightRebuild(boost=16.0)  # the brightness control set to these lamps' (12–40 × white)
    out = srgb_to_linear(render_lens_bokeh(photo[None], depth[None], settings, highlights=prior).image[0])
    _, setup = resolve_setup(LightingParams("warm cinematic"))
    hl = HighlightRebuild(boost=16.0, colour=setup.highlight_rgb)
    lit = srgb_to_linear(render_lens_bokeh(photo[None], depth[None], settings, highlights=hl).image[0])

    def angle(a, b):
        cos = float((a @ b) / (a.norm() * b.norm()))
        return math.degrees(math.acos(min(cos, 1.0)))

    checked = 0
    for lp in lamps:
        disc = lamp_region([lp], lens, H, W, margin_px=-2.0)
        if lp.z_m == FOCUS_M or float(exact[disc].max()) > 0.99 or int((photo[disc] > 0.99).all(-1).sum()) == 0:
            continue  # in focus, a disc the exact lens clips too (its colour shifts), or a lamp the photo did not clip
        checked += 1
        for img, want in ((out, torch.tensor(lp.colour)), (lit, torch.tensor(setup.highlight_rgb))):
            light = (img[disc] - WALL).clamp_min(0).sum(0)
            assert angle(light, want) < 6.0, (lp, light, want)
        truth = (srgb_to_linear(exact)[disc] - WALL).clamp_min(0).sum(0)
        assert angle(truth, torch.tensor(lp.colour)) < 6.0  # the exact lens agrees
    assert checked >= 4


def test_lamps_in_focus_are_unchanged(night):
    photo, depth, _, lamps, lens = night
    out = render_lens_bokeh(photo[None], depth[None], LensSettings(85.0, 1.2, FOCUS_M)).image[0]
    sharp = lamp_region([lp for lp in lamps if lp.z_m == FOCUS_M], lens, H, W, margin_px=1.0) & (depth < 2.5)
    assert int(sharp.sum()) >= 8 and bool((photo[sharp] > 0.99).all(-1).any())  # clipped lamps, as photographed
    assert torch.equal(out[sharp], photo[sharp])
    # a lamp whose circle of confusion is under a pixel is left as it came, whatever the brightness prior
    near_focus = torch.full_like(depth, 2.01)
    for boost in (0.0, 24.0, 200.0):
        kept = render_lens_bokeh(
            photo[None], near_focus[None], LensSettings(85.0, 1.2, FOCUS_M), highlights=HighlightRebuild(boost=boost)
        ).image[0]
        assert float((kept - photo).abs().max()) < 0.02


def test_light_components_are_eight_connected_and_do_not_wrap():
    m = torch.zeros(12, 10, dtype=torch.bool)
    m[2:4, 2:4] = True  # a 2 × 2 light
    m[6, 6] = m[7, 7] = True  # diagonal neighbours: one light
    m[5, 9] = m[6, 0] = True  # consecutive in memory, on two rows: two lights
    idx = torch.nonzero(m.reshape(-1)).squeeze(1)
    labels, k = light_components(idx, 12, 10)
    assert k == 4
    at = {int(i): int(lab) for i, lab in zip(idx, labels)}
    assert len({at[2 * 10 + 2], at[3 * 10 + 3]}) == 1 and at[6 * 10 + 6] == at[7 * 10 + 7]
    assert at[5 * 10 + 9] != at[6 * 10 + 0]


def test_key_light_follows_the_people_soft_alpha():
    """LightingTint with the people's soft alpha (a portrait prior's layer alpha): a hair pixel of alpha a takes
    a share a of the key, and the background beside her hair takes none of it (no warm rim)."""
    H2, W2 = 128, 128
    img = torch.full((1, H2, W2, 3), 0.45)
    alpha = torch.zeros(1, H2, W2)
    alpha[0, :, :60] = 1.0
    alpha[0, :, 60:70] = torch.linspace(0.9, 0.1, 10)  # strands thinning out
    depth = torch.where(alpha > 0.5, torch.tensor(1.5), torch.tensor(6.0))
    params = LightingParams("warm cinematic")
    out, _ = relight(img, params, depth, people_alpha=alpha)
    key, _ = relight(img, params)  # key everywhere
    amb, _ = relight(img, params, subject_mask=torch.zeros(1, H2, W2))  # ambient everywhere
    lin, k, a = (srgb_to_linear(x[0, 64]) for x in (out, key, amb))
    share = ((lin - a) * (k - a)).sum(-1) / ((k - a) ** 2).sum(-1)
    assert torch.allclose(share[60:70], alpha[0, 64, 60:70], atol=0.03)
    assert float(share[70:].abs().max()) < 0.01  # beside the hair: ambient only
    assert float(share[:55].min()) > 0.99
