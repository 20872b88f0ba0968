"""LensBokeh's engine measured against thin-lens physics (no ComfyUI involved).

Every test that renders runs once per way of rendering full-resolution layers (``RenderSettings.tiling``:
tile by tile, as on the CPU by default, and on the whole crop, as on a GPU), on the ``--device`` given."""

import math

import pytest
import torch

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.lens import (
    Aperture,
    HighlightRebuild,
    LensSettings,
    RenderSettings,
    ThinLens,
    render_bokeh,
    render_lens_bokeh,
)

NO_HL = HighlightRebuild(boost=0.0)


@pytest.fixture(params=["tiled", "whole"])
def settings(request) -> RenderSettings:
    """The renderer's settings with full-resolution layers tiled (overlap-add) or convolved on their whole crop."""
    return RenderSettings(tiling=request.param)


def point_light_scene(h=360, w=540, depth_m=8.0, value=1.0, at=None):
    img = torch.zeros(1, h, w, 3)
    y, x = at or (h // 2, w // 2)
    img[0, y, x] = value
    return img, torch.full((1, h, w), depth_m)


def disc_stats(lin_plane: torch.Tensor):
    """Equivalent diameter (area above half the plateau), plateau flatness and 10–90 % edge width (px)."""
    m = lin_plane
    plateau = float(m.max())
    inside = m > plateau * 0.5
    area = int(inside.sum())
    diameter = 2 * math.sqrt(area / math.pi)
    core = m[m > plateau * 0.9]
    edge_px = float(((m > plateau * 0.1) & (m < plateau * 0.9)).sum()) / (math.pi * diameter)
    return diameter, core, edge_px


@pytest.mark.parametrize("f_number,depth_m", [(1.8, 8.0), (1.2, 8.0), (1.2, 20.0), (2.8, 4.0)])
def test_point_light_disc_matches_thin_lens_coc(f_number, depth_m, settings):
    lens = ThinLens(85, f_number, 2.0)
    img, depth = point_light_scene(depth_m=depth_m)
    expected = float(lens.coc_px(torch.tensor(depth_m), 360, 540))
    out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings)
    lin = srgb_to_linear(out.image[0])[..., 0]
    diameter, core, edge = disc_stats(lin)
    assert diameter == pytest.approx(expected, rel=0.03), (diameter, expected)
    # flat top, hard edge: the plateau is flat to ±8 % and the rim is a few px, unlike a Gaussian
    assert float(core.std() / core.mean()) < 0.08
    assert edge < max(3.0, 0.08 * expected)
    assert float(out.coc_px[0, 0, 0]) == pytest.approx(expected, rel=1e-5)


def test_gaussian_would_fail_the_disc_test():
    """The flatness/edge criteria above reject a Gaussian of the same size (the test can fail)."""
    from portraitos.validation.baselines import gaussian_blur

    img = torch.zeros(3, 201, 201)
    img[:, 100, 100] = 1.0
    g = gaussian_blur(img, 10.0)[0]
    d, core, edge = disc_stats(g)
    assert edge > max(3.0, 0.08 * d)


def test_energy_is_conserved_without_highlight_rebuild(settings):
    lens = ThinLens(85, 1.4, 2.0)
    for value in (0.5, 1.0):
        img, depth = point_light_scene(value=value)
        out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings)
        before = float(srgb_to_linear(img[0]).sum())
        after = float(srgb_to_linear(out.image[0]).sum())
        assert after == pytest.approx(before, rel=0.02)


def test_six_blades_give_a_hexagon_at_the_set_rotation(settings):
    lens = ThinLens(85, 1.4, 2.0)
    img, depth = point_light_scene(depth_m=10.0)
    for rot in (0.0, 30.0):
        out = render_bokeh(img, depth, lens, aperture=Aperture(6, rot, 0.0), highlights=NO_HL, settings=settings)
        m = srgb_to_linear(out.image[0])[..., 1]
        inside = m > float(m.max()) * 0.5
        ys, xs = torch.nonzero(inside, as_tuple=True)
        dx, dy = xs.float() - 270, -(ys.float() - 180)
        ang = torch.atan2(dy, dx)
        rad = torch.sqrt(dx**2 + dy**2)

        def extent(deg):
            a = math.radians(deg)
            sel = torch.cos(ang - a) > math.cos(math.radians(3))
            return float(rad[sel].max())

        vertex, flat = extent(rot), extent(rot + 30.0)
        # a regular hexagon: circumradius / inradius = 1/cos(30°) = 1.155
        assert vertex / flat == pytest.approx(1 / math.cos(math.radians(30)), rel=0.05), (rot, vertex, flat)


def test_focus_plane_pixels_are_unchanged(settings):
    torch.manual_seed(0)
    img = torch.rand(1, 120, 180, 3)
    depth = torch.full((1, 120, 180), 2.0)
    depth[:, :, :60] = 9.0
    out = render_bokeh(img, depth, ThinLens(85, 1.2, 2.0), settings=settings)
    # away from the depth edge (more than the CoC), the focus plane is bit-exact up to sRGB round trip
    assert torch.allclose(out.image[0, :, 70:], img[0, :, 70:], atol=1e-4)
    assert float(out.in_focus[0, :, 70:].min()) == 1.0


def test_halving_f_number_doubles_disc_diameter(settings):
    img, depth = point_light_scene(depth_m=6.0)
    diams = []
    for n in (2.8, 1.4):
        out = render_bokeh(img, depth, ThinLens(85, n, 2.0), highlights=NO_HL, settings=settings)
        diams.append(disc_stats(srgb_to_linear(out.image[0])[..., 0])[0])
    assert diams[1] / diams[0] == pytest.approx(2.0, rel=0.03)


def test_blur_is_monotone_in_defocus(settings):
    lens = ThinLens(85, 1.8, 2.0)
    diams = []
    for z in (2.3, 2.8, 3.5, 5.0, 8.0, 30.0):
        img, depth = point_light_scene(depth_m=z)
        out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings)
        diams.append(disc_stats(srgb_to_linear(out.image[0])[..., 0])[0])
    assert all(b > a for a, b in zip(diams, diams[1:])), diams
    # foreground symmetric in disparity: S/2 blurs like infinity
    near, far = (
        disc_stats(srgb_to_linear(render_bokeh(*scene, lens, highlights=NO_HL, settings=settings).image[0])[..., 0])[0]
        for scene in (point_light_scene(depth_m=1.0), point_light_scene(depth_m=1e6))
    )
    assert near == pytest.approx(far, rel=0.05)


def test_smooth_growth_without_steps_between_layers(settings):
    """Lights along a receding plane: every disc has its own thin-lens size (no quantisation to layers)."""
    lens = ThinLens(85, 2.0, 2.0)
    h, w = 120, 800
    depth = torch.linspace(2.6, 14.0, w).view(1, 1, w).expand(1, h, w).contiguous()
    img = torch.zeros(1, h, w, 3)
    cols = list(range(30, 771, 38))
    for x in cols:
        img[0, 60, x] = 1.0
    out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings)
    lin = srgb_to_linear(out.image[0])[..., 0]
    measured, expected = [], []
    for x in cols:
        win = lin[60 - 18 : 60 + 19, x - 18 : x + 19]
        measured.append(2 * math.sqrt(float((win > float(win.max()) * 0.5).sum()) / math.pi))
        expected.append(float(lens.coc_px(depth[0, 60, x], h, w)))
    rel = [m / e - 1 for m, e in zip(measured, expected)]
    assert max(abs(r) for r in rel) < 0.06, str([(round(e, 1), round(m, 1)) for e, m in zip(expected, measured)])
    assert all(b > a - 0.1 for a, b in zip(measured, measured[1:])), str([round(m, 2) for m in measured])


def test_sharp_subject_gets_no_halo_and_background_does_not_bleed(settings):
    lens = ThinLens(85, 1.4, 2.0)
    h, w = 200, 300
    img = torch.full((1, h, w, 3), 0.9)  # bright background
    depth = torch.full((1, h, w), 10.0)
    img[0, 60:140, 100:200] = 0.1  # dark subject in focus
    depth[0, 60:140, 100:200] = 2.0
    out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings).image[0]
    # subject untouched right up to its edge
    assert torch.allclose(out[60:140, 100:200], img[0, 60:140, 100:200], atol=1e-3)
    # background beside the subject keeps its brightness (no dark ghost of the subject)
    ring = torch.cat([out[60:140, 92:100].reshape(-1, 3), out[60:140, 200:208].reshape(-1, 3)])
    assert float(ring.min()) > 0.88


def test_near_foreground_blur_spreads_over_the_sharp_subject(settings):
    lens = ThinLens(85, 1.4, 2.0)
    h, w = 200, 300
    img = torch.full((1, h, w, 3), 0.5)
    depth = torch.full((1, h, w), 2.0)  # subject plane in focus everywhere
    img[0, :, 140:160] = torch.tensor([1.0, 0.0, 0.0])  # red pole close to the lens
    depth[0, :, 140:160] = 0.8
    out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings)
    r_fg = abs(float(out.coc_px[0, 100, 150])) / 2
    assert r_fg > 8
    # beside the pole, on the sharp subject, the pole's red spreads semi-transparently
    col = out.image[0, 100, int(160 + r_fg * 0.4)]
    assert float(col[0] - col[1]) > 0.05
    assert float(col[1]) > 0.2  # semi-transparent: the subject still shows


def test_highlights_become_bright_discs_and_take_lighting_colour(settings):
    lens = ThinLens(85, 1.4, 2.0)
    img, depth = point_light_scene(depth_m=8.0)
    plain = srgb_to_linear(render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings).image[0]).sum()
    boosted = srgb_to_linear(
        render_bokeh(img, depth, lens, highlights=HighlightRebuild(0.9, 8.0), settings=settings).image[0]
    ).sum()
    assert float(boosted) > 5 * float(plain)
    warm = (1.0, 0.6, 0.3)
    out = srgb_to_linear(
        render_bokeh(img, depth, lens, highlights=HighlightRebuild(0.9, 8.0, warm), settings=settings).image[0]
    )
    disc = out[out.sum(-1) > 1e-3]
    rgb = disc.mean(0)
    ratio = rgb / rgb.sum()
    want = torch.tensor(warm) / sum(warm)
    assert torch.allclose(ratio, want, atol=0.02)
    # an in-focus highlight is left alone
    sharp = render_bokeh(
        img, torch.full_like(depth, 2.0), lens, highlights=HighlightRebuild(0.9, 8.0), settings=settings
    ).image
    assert torch.allclose(sharp, img, atol=1e-4)


def test_a_saturated_or_white_subject_thrown_out_of_focus_keeps_its_colour(settings):
    """Refocus on the background behind a subject in a saturated orange with a white shirt (both at the top
    of a channel, extended, diffuse): with the default highlight rebuild the subject's interior keeps the
    mean colour energy conservation gives (what the render without any rebuild gives), while a small
    clipped light in the same frame, as far out of focus, still becomes a bright disc."""
    from portraitos.validation.metrics import delta_e2000, linear_rgb_to_lab

    h, w = 240, 320
    img = torch.full((1, h, w, 3), 0.3)
    depth = torch.full((1, h, w), 8.0)
    img[0, 40:200, 60:200] = torch.tensor([1.0, 0.55, 0.1])  # saturated orange, red channel clipped
    img[0, 120:200, 90:170] = 0.97  # a white shirt: clipped in luminance, but a surface
    depth[0, 40:200, 60:200] = 1.5
    img[0, 60, 270] = 1.0  # a small clipped light, as far out of focus as the subject
    depth[0, 55:66, 265:276] = 1.5
    lens = ThinLens(85, 1.2, 8.0)
    rebuilt = render_bokeh(img, depth, lens, settings=settings).image[0]
    plain = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings).image[0]
    interior = (slice(70, 170), slice(90, 170))
    lab = [linear_rgb_to_lab(srgb_to_linear(x[interior]).mean((0, 1))) for x in (rebuilt, plain)]
    assert float(delta_e2000(*lab)) < 1.0
    light = (slice(20, 100), slice(230, 310))
    energy = [float(srgb_to_linear(x[light]).sum() - 0.3**2.2 * 0) for x in (rebuilt, plain)]
    base = float(srgb_to_linear(plain[5:15, 5:15]).mean()) * 80 * 80 * 3
    assert energy[0] - base > 5 * (energy[1] - base)  # the light's disc carries several times its pixel


def test_what_clips_on_a_person_is_not_rebuilt_as_a_light(settings):
    """A person (the prior's layer alpha) in a dark suit holding something with a compact clipped reflection
    on it, thrown out of focus: her interior keeps the mean colour the render without any rebuild gives; the same
    reflection beside her, as far out of focus, on the background layer, still becomes a bright disc."""
    from portraitos.validation.metrics import delta_e2000, linear_rgb_to_lab

    h, w = 240, 320
    img = torch.full((1, h, w, 3), 0.15)
    depth = torch.full((1, h, w), 1.5)
    person = torch.zeros(1, h, w)
    person[0, 30:210, 40:190] = 1.0
    # a dark brown suit (a reflection on a bright suit gets little of the prior on its own: the exposure)
    img[0, 30:210, 40:190] = torch.tensor([0.3, 0.16, 0.08])
    img[0, 110:122, 108:120] = 1.0  # the studio light's reflection in what she holds: small, clipped
    img[0, 110:122, 258:270] = 1.0  # a real light beside her, as small, as far out of focus
    lens = ThinLens(85, 1.2, 8.0)
    rebuilt = render_bokeh(img, depth, lens, settings=settings, layer_alpha=person).image[0]
    plain = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings, layer_alpha=person).image[0]
    interior = (slice(70, 170), slice(80, 150))
    lab = [linear_rgb_to_lab(srgb_to_linear(x[interior]).mean((0, 1))) for x in (rebuilt, plain)]
    assert float(delta_e2000(*lab)) < 0.5
    # without the people's alpha the same reflection is a light, and her interior glows
    unknown = render_bokeh(img, depth, lens, settings=settings).image[0]
    glow = linear_rgb_to_lab(srgb_to_linear(unknown[interior]).mean((0, 1)))
    assert float(delta_e2000(glow, lab[1])) > 1.0
    light = (slice(70, 160), slice(220, 310))
    base = float(srgb_to_linear(plain[5:15, 300:310]).mean())
    energy = [float((srgb_to_linear(x[light]) - base).sum()) for x in (rebuilt, plain)]
    assert energy[0] > 4 * energy[1]  # the light's disc carries several times its pixels


def test_borders_are_not_darkened(settings):
    torch.manual_seed(1)
    img = torch.full((1, 120, 180, 3), 0.6)
    out = render_bokeh(img, torch.full((1, 120, 180), 10.0), ThinLens(85, 1.2, 2.0), settings=settings)
    assert torch.allclose(out.image, img, atol=2e-3)


def test_bad_depth_is_cleaned_with_a_warning_and_no_nan(settings):
    torch.manual_seed(2)
    img = torch.rand(1, 64, 96, 3)
    depth = torch.full((1, 64, 96), 5.0)
    depth[0, :5] = float("nan")
    depth[0, 10:12] = float("inf")
    depth[0, 20:22] = 0.0
    depth[0, 30:32] = -3.0
    with pytest.warns(RuntimeWarning, match="replaced"):
        out = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 2.0), settings=settings)
    assert bool(torch.isfinite(out.image).all())
    with pytest.raises(ValueError, match="no valid values"):
        render_lens_bokeh(img, torch.full((1, 64, 96), float("nan")), LensSettings(), settings=settings)


def test_batches_broadcast_and_mismatches_are_refused(settings):
    img = torch.rand(3, 40, 60, 3)
    depth = torch.full((1, 40, 60), 6.0)
    out = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 2.0), settings=settings)
    assert out.image.shape == (3, 40, 60, 3)
    out = render_lens_bokeh(img[:1], torch.full((2, 40, 60), 6.0), LensSettings(85, 1.8, 2.0), settings=settings)
    assert out.image.shape == (2, 40, 60, 3)
    with pytest.raises(ValueError, match="batch"):
        render_lens_bokeh(img, torch.full((2, 40, 60), 6.0), LensSettings(85, 1.8, 2.0), settings=settings)


def test_focus_inside_focal_length_is_refused():
    with pytest.raises(ValueError, match="focal length"):
        ThinLens(85, 1.8, 0.08)
    with pytest.raises(ValueError, match="focal length"):
        render_lens_bokeh(torch.rand(1, 8, 8, 3), torch.ones(1, 8, 8), LensSettings(85, 1.8, 0.05))


def test_depth_of_another_size_is_resampled_along_image_edges(settings):
    h, w = 120, 160
    img = torch.full((1, h, w, 3), 0.8)
    img[0, :, 67:] = 0.2  # image edge at x = 67 (not on the depth grid)
    depth_small = torch.full((1, 30, 40), 2.0)
    depth_small[0, :, 17:] = 8.0  # low-res depth edge near x = 68
    out = render_lens_bokeh(img, depth_small, LensSettings(85, 1.8, 2.0), settings=settings)
    coc = out.coc_px[0, 60]
    assert float(coc[:66].abs().max()) < 0.5  # left of the image edge: in focus
    assert float(coc[68:].min()) > 5  # right of it: background


def test_banded_rendering_matches_whole_frame(settings):
    torch.manual_seed(3)
    h, w = 256, 192
    img = torch.rand(1, h, w, 3) * 0.7
    img[0, 40, 50] = 1.0
    depth = torch.full((1, h, w), 9.0)
    depth[0, 80:200, 60:140] = 2.0
    whole = render_lens_bokeh(img, depth, LensSettings(85, 1.4, 2.0), settings=settings)
    banded = render_lens_bokeh(img, depth, LensSettings(85, 1.4, 2.0), max_tile_pixels=h * w // 3, settings=settings)
    assert float((whole.image - banded.image).abs().max()) < 0.02
    assert torch.allclose(whole.coc_px, banded.coc_px)


def test_auto_focus_uses_mask_then_nearest_centre(settings):
    h, w = 100, 150
    img = torch.rand(1, h, w, 3)
    depth = torch.full((1, h, w), 7.0)
    depth[0, 30:80, 55:95] = 1.7
    out = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), settings=settings)
    assert out.focus_distance_m[0] == pytest.approx(1.7)
    mask = torch.zeros(1, h, w)
    mask[0, :10, :10] = 1
    out = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), focus_mask=mask, settings=settings)
    assert out.focus_distance_m[0] == pytest.approx(7.0)


def test_auto_focus_finds_the_eyes_in_the_image(settings):
    """With depth from a file (no eye positions), auto focus looks for a face in the photo itself."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()).float()[None] / 255
    depth = torch.full((1, 512, 512), 6.0)
    depth[0, 90:115, 190:260] = 2.2  # the eye band
    depth[0, 300:400, 100:400] = 1.5  # something nearer, lower in the frame
    out = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), settings=settings)
    assert out.focus_how == ["eyes"] and out.focus_distance_m[0] == pytest.approx(2.2)


def test_slightly_defocused_subject_hides_the_background_behind_its_edge(settings):
    """A subject between two layer radii (here CoC radius ≈ 0.3 px) is one surface: the blurred
    background behind its edge must not show through the two halves."""
    lens = ThinLens(85, 1.4, 2.0)
    h, w = 200, 300
    img = torch.full((1, h, w, 3), 0.9)
    depth = torch.full((1, h, w), 10.0)
    img[0, 60:140, 100:200] = 0.1
    depth[0, 60:140, 100:200] = 2.03
    out = render_bokeh(img, depth, lens, highlights=NO_HL, settings=settings)
    r = abs(float(out.coc_px[0, 100, 150])) / 2
    assert 0.1 < r < 0.5
    band = out.image[0, 62:138, 102:114]  # inside the subject, within the background's blur reach
    assert float(band.max()) < 0.13, float(band.max())


@pytest.mark.parametrize("background_m", [2.5, 3.0, 8.0])
def test_the_renderer_keeps_background_light_off_a_sharp_subject(background_m, settings):
    """Rays reaching an in-focus pixel all come from the subject point there, so the background's blur
    adds nothing to it, however little the background is defocused (here 2.5 to 25 px of CoC). This is
    the renderer's own result, before the pipeline's final in-focus pass."""
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 160, 200, 3, generator=g)
    depth = torch.full((1, 160, 200), background_m)
    depth[:, 40:120, 50:150] = 2.0
    out = render_bokeh(img, depth, ThinLens(85, 1.8, 2.0), highlights=NO_HL, settings=settings)
    subject = out.coc_px[0].abs() < 0.5
    assert float(out.coc_px[0].max()) > 2.4  # the background really is out of focus
    change = (out.image[0] - img[0]).abs().amax(-1)[subject]
    assert float(change.max()) < 1e-5
