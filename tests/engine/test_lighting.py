"""LightingTint's colour science and its effect on LensBokeh's highlights."""

import math

import pytest
import torch

from portraitos.engine.core.colour import linear_to_srgb, srgb_to_linear
from portraitos.engine.lens import HighlightRebuild, LensSettings, render_lens_bokeh
from portraitos.engine.lighting import PRESETS, LightingParams, relight, resolve_setup
from portraitos.engine.lighting.illuminants import (
    D65_XY,
    bradford_matrix,
    cct_to_xy,
    linear_rgb_to_xy,
    xy_to_cct,
    xy_to_linear_rgb,
)
from portraitos.validation.metrics import delta_e2000, linear_rgb_to_lab


def test_cct_chromaticity_matches_published_illuminants():
    x, y = cct_to_xy(6500)
    assert math.dist((x, y), (0.3127, 0.3290)) < 0.003  # D65
    x, y = cct_to_xy(2856)
    assert math.dist((x, y), (0.4476, 0.4074)) < 0.003  # illuminant A
    assert xy_to_cct(0.4476, 0.4074) == pytest.approx(2856, abs=30)


def test_delta_e2000_reference_pair():
    # Sharma, Wu, Dalal (2005) test data, pair 1
    d = delta_e2000(torch.tensor([50.0, 2.6772, -79.7751]), torch.tensor([50.0, 0.0, -82.7485]))
    assert float(d) == pytest.approx(2.0425, abs=1e-3)


def test_grey_card_stays_neutral_under_cool_studio():
    grey = torch.full((1, 32, 32, 3), 0.46)  # ~18 % grey in sRGB
    out, setup = relight(grey, LightingParams("cool studio"))
    lin_out = srgb_to_linear(out[0, 16, 16])
    expected = srgb_to_linear(grey[0, 16, 16]) @ bradford_matrix(D65_XY, tuple(setup.meta["key_xy"])).T
    de = float(delta_e2000(linear_rgb_to_lab(lin_out), linear_rgb_to_lab(expected)))
    assert de < 2.0
    # and it is neutral: a*, b* near 0
    lab = linear_rgb_to_lab(lin_out)
    assert abs(float(lab[1])) < 1.5 and abs(float(lab[2])) < 1.5


def test_warm_cinematic_warms_the_subject_and_cools_the_background():
    img = torch.full((1, 40, 60, 3), 0.5)
    depth = torch.full((1, 40, 60), 8.0)
    depth[0, 10:30, 20:40] = 2.0
    out, setup = relight(img, LightingParams("warm cinematic"), depth_m=depth)
    subj, bg = out[0, 20, 30], out[0, 2, 2]
    assert float(subj[0] - subj[2]) > 0.1  # warm key on the subject
    assert float(bg[2] - bg[0]) > 0.02  # teal-leaning ambient behind
    assert setup.key_cct_k == pytest.approx(3200)
    assert bool((out[0, 20, 30] < 0.99).all())  # midtones not clipped


@pytest.mark.parametrize("cct", [2700, 4000, 6500])
def test_auto_recovers_a_known_illuminant(cct):
    torch.manual_seed(cct)
    # a neutral scene (grey levels) lit by the illuminant, as a D65-balanced camera records it
    refl = torch.rand(1, 48, 64, 1) * 0.7 + 0.1
    illum = torch.tensor(xy_to_linear_rgb(*cct_to_xy(cct)))
    illum = illum / illum.max()
    img = linear_to_srgb(refl * illum)
    _, setup = resolve_setup(LightingParams("auto"), img)
    assert setup.key_cct_k == pytest.approx(cct, abs=500)


@pytest.mark.parametrize("preset", ["warm cinematic", "cool studio"])
def test_bokeh_highlights_take_the_lighting_colour(preset):
    h, w = 240, 360
    img = torch.full((1, h, w, 3), 0.02)
    for y, x in ((60, 90), (60, 270), (180, 90), (180, 270)):
        img[0, y, x] = 1.0  # white clipped point lights
    depth = torch.full((1, h, w), 8.0)
    lit, setup = relight(img, LightingParams(preset))
    res = render_lens_bokeh(
        lit,
        depth,
        LensSettings(85, 1.4, 2.0),
        highlights=HighlightRebuild(0.9, 8.0 * setup.highlight_intensity, setup.highlight_rgb),
    )
    lin = srgb_to_linear(res.image[0])
    base = srgb_to_linear(lit[0, 5, 5])
    discs = (lin - base).clamp_min(0)
    disc_px = discs.sum(-1) > 0.01
    assert int(disc_px.sum()) > 4 * 100
    xy = linear_rgb_to_xy(discs[disc_px])
    want = setup.meta["key_xy"]
    assert math.dist(xy, want) < 0.01, (xy, want)


def test_presets_cover_the_product_looks():
    for name in ("warm cinematic", "cool studio", "golden hour", "soft window", "neon night", "auto"):
        assert name in PRESETS
    assert 5600 <= PRESETS["cool studio"].key_cct_k <= 6500
    assert PRESETS["warm cinematic"].key_cct_k == pytest.approx(3200, abs=100)


def test_relight_in_bands_equals_one_pass_and_reports_progress(monkeypatch):
    import sys

    relight_module = sys.modules["portraitos.engine.lighting.relight"]

    torch.manual_seed(1)
    image = torch.rand(2, 40, 30, 3)
    depth = torch.full((1, 40, 30), 6.0)
    depth[:, 10:30, 8:22] = 2.0
    params = LightingParams("warm cinematic", key_strength=0.6)
    whole, _ = relight(image, params, depth)
    monkeypatch.setattr(relight_module, "BAND_PIXELS", 7 * 30)  # 7 rows a band
    ticks = []
    banded, _ = relight(image, params, depth, progress=lambda d, t: ticks.append((d, t)))
    assert torch.allclose(banded, whole, atol=1e-6)  # matrix products may round differently per band
    assert ticks[-1] == (12, 12) and len(ticks) == 12  # 6 bands per image, 2 images

    class Cancelled(Exception):
        pass

    calls = []

    def cancel_on_third():
        calls.append(1)
        if len(calls) == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        relight(image, params, depth, check_interrupt=cancel_on_third)


@pytest.mark.parametrize("strength", [0.5, 1.0])
@pytest.mark.parametrize("source", ["depth", "mask"])
def test_key_and_ambient_meet_without_a_cut(source, strength):
    """A grey subject on the same grey: the colour across the outline is the key/ambient split itself. It
    changes monotonically (no line of a third colour) over a transition at least 1.5 % of the long side
    wide (no hard cut that a matte slightly off the hair would show as a line), centred on the outline."""
    H = W = 512
    img = torch.full((1, H, W, 3), 0.45)
    inside = torch.zeros(1, H, W)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    inside[0] = (((yy - 300) / 170.0) ** 2 + ((xx - 256) / 120.0) ** 2 < 1).float()
    depth = torch.where(inside > 0, torch.tensor(1.5), torch.tensor(6.0))
    kwargs = {"depth_m": depth} if source == "depth" else {"subject_mask": inside}
    out, _ = relight(img, LightingParams("warm cinematic", strength=strength), **kwargs)
    lab = linear_rgb_to_lab(srgb_to_linear(out[0, 300]))  # a row through the subject: outline at x = 136, 376
    key, ambient = lab[256], lab[5]
    assert float(delta_e2000(key, ambient)) > 8 * strength  # key and ambient do differ
    row = lab[60:256]  # ambient ... outline ... key
    share = ((row - ambient) * (key - ambient)).sum(-1) / ((key - ambient) ** 2).sum()
    steps = share[1:] - share[:-1]
    assert float(steps.min()) > -1e-3  # monotonic: no overshoot, no line
    between = (share > 0.05) & (share < 0.95)
    assert int(between.sum()) >= 0.015 * W
    centre = 60 + int(torch.nonzero(share > 0.5)[0])
    assert abs(centre - 136) <= 2
    assert float(delta_e2000(lab[256 + 100], key)) < 0.5  # inside, the whole key


def test_the_key_weights_dilation_is_the_max_pool_it_replaces():
    # the people's surroundings (key_weight) are grown by running counts: the same pixels as a max pool of the
    # window, at any radius, batch and border
    from portraitos.engine.core.box_filter import dilate

    gen = torch.Generator().manual_seed(3)
    for shape, r in [((1, 40, 70), 1), ((2, 90, 60), 6), ((1, 33, 200), 16), ((1, 7, 5), 4)]:
        mask = torch.rand(shape, generator=gen) > 0.99
        mask[0, 0, -1] = True  # a corner pixel: the window clipped on two sides
        pooled = torch.nn.functional.max_pool2d(mask.float()[:, None], 2 * r + 1, stride=1, padding=r)[:, 0] > 0
        assert torch.equal(dilate(mask, r), pooled), (shape, r)
