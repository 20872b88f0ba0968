"""Lens character measured on renders of point lights and edges: cat's eye against a brute-force two-stop ray
trace, swirl orientation, LoCA fringe hues, spherical-aberration rims, anamorphic squeeze, grain level."""

import math
from dataclasses import replace

import pytest
import torch

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.lens import Aperture, HighlightRebuild, LensSettings, ThinLens, render_bokeh, render_lens_bokeh
from portraitos.engine.lens.character import Frame, LensCharacter
from portraitos.engine.lens.profiles import IDEAL, PROFILE_NAMES, lens_profile, profile_discs
from portraitos.validation.scenes import portrait_scene
from portraitos.validation.two_stop import image_shape, moments_shape, two_stop_landings

NO_HL = HighlightRebuild(boost=0.0)
H, W = 400, 600
PLAIN = LensCharacter(grain=False)


def lights(positions, value=0.6, background=0.0, h=H, w=W):
    img = torch.full((1, h, w, 3), background)
    for x, y in positions:
        img[0, y, x] = value
    return img


def render(img, depth_m, character, f_number=1.2, focal=85.0, aperture=Aperture()):
    lens = ThinLens(focal, f_number, 2.0)
    depth = torch.full(img.shape[:3], depth_m)
    return lens, render_bokeh(img, depth, lens, aperture, NO_HL, character=character)


def disc_around(lin, x, y, half):
    return lin[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1]


def test_ideal_profile_is_the_ideal_lens_bit_for_bit():
    ideal = lens_profile(IDEAL)
    assert ideal.character is None and ideal.aperture is None and PROFILE_NAMES[0] == IDEAL
    img, depth = portrait_scene(120, 180)
    plain = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 2.0))
    via = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 2.0), character=ideal.character)
    assert torch.equal(plain.image, via.image)


@pytest.mark.parametrize("squeeze", [1.33, 2.0])
def test_anamorphic_disc_height_over_width_is_the_squeeze(squeeze):
    img = lights([(300, 200)])
    _, out = render(img, 8.0, replace(PLAIN, squeeze=squeeze))
    lin = srgb_to_linear(out.image[0])[..., 1]
    aspect, short_angle, _ = image_shape(disc_around(lin, 300, 200, 60))
    assert 1.0 / aspect == pytest.approx(squeeze, rel=0.03)
    assert abs(math.sin(short_angle)) < 0.05  # the short axis is horizontal: the blur is narrower across


def radial_profile(lin, x, y, radius):
    yy, xx = torch.meshgrid(torch.arange(lin.shape[0]), torch.arange(lin.shape[1]), indexing="ij")
    rr = torch.sqrt((xx - x).float() ** 2 + (yy - y).float() ** 2) / radius
    rim = float(lin[(rr > 0.7) & (rr < 0.9)].mean())
    centre = float(lin[rr < 0.3].mean())
    return rim / centre


@pytest.mark.parametrize("depth_m,behind", [(8.0, True), (1.2, False)])
def test_under_corrected_spherical_aberration_rims_behind_soft_centre_in_front(depth_m, behind):
    character = replace(PLAIN, spherical=lens_profile("classic 85 f/1.2").character.spherical)
    img = lights([(300, 200)])
    lens, out = render(img, depth_m, character)
    _, ideal = render(img, depth_m, None)
    radius = abs(float(lens.coc_px(torch.tensor(depth_m), H, W))) / 2
    lin = srgb_to_linear(out.image[0])[..., 1]
    ratio = radial_profile(lin, 300, 200, radius)
    assert ratio > 1.3 if behind else ratio < 0.8, ratio
    # energy conserved per disc: the same light as the ideal disc
    assert float(lin.sum()) == pytest.approx(float(srgb_to_linear(ideal.image[0])[..., 1].sum()), rel=0.01)
    # over-corrected: the other way round
    _, over = render(img, depth_m, replace(character, spherical=-character.spherical))
    flipped = radial_profile(srgb_to_linear(over.image[0])[..., 1], 300, 200, radius)
    assert flipped < 0.8 if behind else flipped > 1.3, flipped


def square_scene(value=0.8, background=0.05):
    img = torch.full((1, H, W, 3), background)
    img[0, 150:250, 250:350] = value
    return img


@pytest.mark.parametrize("depth_m,magenta", [(1.2, True), (8.0, False)])
def test_loca_fringes_magenta_in_front_and_green_behind(depth_m, magenta):
    character = replace(PLAIN, loca_permille=lens_profile("classic 85 f/1.2").character.loca_permille)
    lens, out = render(square_scene(), depth_m, character)
    radius = abs(float(lens.coc_px(torch.tensor(depth_m), H, W))) / 2
    lin = srgb_to_linear(out.image[0])
    # just outside the square's left and right edges, within the blur's reach
    band = [int(250 - 0.8 * radius), int(250 - 0.2 * radius), int(350 + 0.2 * radius), int(350 + 0.8 * radius)]
    rows = slice(180, 220)
    ring = torch.cat([lin[rows, band[0] : band[1]], lin[rows, band[2] : band[3]]], dim=1)
    purple = float((ring[..., 0] + ring[..., 2]).mean() / 2 - ring[..., 1].mean())
    assert purple > 0 if magenta else purple < 0, purple
    assert abs(purple) > 0.003  # a visible fringe, not round-off
    _, ideal = render(square_scene(), depth_m, None)
    plain = srgb_to_linear(ideal.image[0])
    ring0 = torch.cat([plain[rows, band[0] : band[1]], plain[rows, band[2] : band[3]]], dim=1)
    assert abs(float((ring0[..., 0] + ring0[..., 2]).mean() / 2 - ring0[..., 1].mean())) < 1e-4


def test_loca_leaves_the_focus_plane_clean():
    character = replace(PLAIN, loca_permille=2.0)
    img = square_scene()
    _, out = render(img, 2.0, character)
    assert float((out.image - img).abs().max()) < 1e-5


def zone_centre_lights(frame):
    return [(round(dx + W / 2), round(dy + H / 2)) for _j, _i, dx, dy in frame.zone_centres_px()]


@pytest.mark.parametrize("depth_m", [8.0, 1.3])
def test_cats_eye_matches_the_two_stop_ray_trace(depth_m):
    character = replace(lens_profile("classic 85 f/1.2").character, spherical=0.0, loca_permille=0.0, grain=False)
    lens = ThinLens(85, 1.2, 2.0)
    frame = Frame(H, W, lens.pixels_per_mm(H, W))
    positions = zone_centre_lights(frame)
    _, out = render(lights(positions), depth_m, character)
    lin = srgb_to_linear(out.image[0])[..., 1]
    radius = abs(float(lens.coc_px(torch.tensor(depth_m), H, W))) / 2
    half = int(radius) + 4
    ppm = frame.px_per_mm
    aspects = {}
    for x, y in positions:
        dx, dy = x + 0.5 - W / 2, y + 0.5 - H / 2
        pts = two_stop_landings(lens, character, (dx / ppm, dy / ppm), depth_m * 1000.0, ppm)
        ref_aspect, ref_angle, _ = moments_shape(pts)
        patch = disc_around(lin, x, y, half)
        aspect, angle, _ = image_shape(patch)
        assert aspect == pytest.approx(ref_aspect, rel=0.03), (x, y, aspect, ref_aspect)
        if ref_aspect < 0.95:  # the short axis is radial, as in the ray trace
            assert abs(math.sin(angle - ref_angle)) < 0.1
            assert abs(math.sin(angle - math.atan2(dy, dx))) < 0.1
            # clipped on the same side: the disc's centroid moves as the traced one
            ys, xs = torch.meshgrid(torch.arange(patch.shape[0]), torch.arange(patch.shape[1]), indexing="ij")
            cx = float((patch * xs).sum() / patch.sum()) - (x - max(0, x - half))
            cy = float((patch * ys).sum() / patch.sum()) - (y - max(0, y - half))
            ref_c = pts.mean(0)
            assert cx * float(ref_c[0]) + cy * float(ref_c[1]) > 0
        aspects[(x, y)] = (aspect, ref_aspect)
    corner = aspects[positions[0]]
    centre = min(aspects.values(), key=lambda a: -a[0])
    assert corner[0] / centre[0] < 0.9  # the corner disc is a cat's eye
    assert corner[0] / centre[0] == pytest.approx(corner[1] / centre[1], rel=0.03)


def test_swirl_discs_are_tangential_and_grow_toward_the_corners():
    vintage = lens_profile("vintage 58 f/2 · swirl")
    character = replace(vintage.character, spherical=0.0, onion_rings=0.0, loca_permille=0.0, grain=False)
    lens = ThinLens(58, 2.0, 2.0)
    frame = Frame(H, W, lens.pixels_per_mm(H, W))
    positions = zone_centre_lights(frame)
    _, out = render(lights(positions), 20.0, character, f_number=2.0, focal=58.0)
    lin = srgb_to_linear(out.image[0])[..., 1]
    shapes = {}
    for x, y in positions:
        aspect, angle, long_std = image_shape(disc_around(lin, x, y, 40))
        shapes[(x, y)] = (aspect, angle, long_std)
        dx, dy = x + 0.5 - W / 2, y + 0.5 - H / 2
        if aspect < 0.9:  # long axis tangential: the short one radial
            assert abs(math.sin(angle - math.atan2(dy, dx))) < 0.1
    corner, inner = shapes[positions[0]], shapes[positions[len(positions) // 2 - 3]]
    assert corner[0] < 0.8 and corner[0] < inner[0]
    assert corner[2] > inner[2]  # the curved field: the blur grows toward the corners


def test_grain_matches_the_in_focus_noise():
    gen = torch.Generator().manual_seed(0)
    img = (0.45 + 0.03 * torch.randn(1, H, W, 3, generator=gen)).clamp(0, 1)
    depth = torch.full((1, H, W), 2.0)
    depth[:, :, W // 2 :] = 8.0
    lens = ThinLens(85, 1.4, 2.0)
    plain = render_bokeh(img, depth, lens, Aperture(), NO_HL, character=PLAIN)
    grained = render_bokeh(img, depth, lens, Aperture(), NO_HL, character=LensCharacter())
    sharp = float(img[0, 20:-20, 20 : W // 2 - 40].std(dim=(0, 1)).mean())
    blurred_plain = float(plain.image[0, 20:-20, W // 2 + 60 : -20].std(dim=(0, 1)).mean())
    blurred = float(grained.image[0, 20:-20, W // 2 + 60 : -20].std(dim=(0, 1)).mean())
    assert blurred_plain < 0.3 * sharp  # without grain the blur looks pasted in
    assert blurred == pytest.approx(sharp, rel=0.15)
    # the in-focus region keeps its own pixels
    assert float((grained.image[0, :, : W // 2 - 40] - plain.image[0, :, : W // 2 - 40]).abs().max()) < 1e-6


def test_grain_is_off_without_noise_and_reproducible():
    img = torch.full((1, 64, 96, 3), 0.5)
    depth = torch.full((1, 64, 96), 8.0)
    depth[:, :, :48] = 2.0
    lens = ThinLens(85, 1.4, 2.0)
    a = render_bokeh(img, depth, lens, Aperture(), NO_HL, character=LensCharacter())
    b = render_bokeh(img, depth, lens, Aperture(), NO_HL, character=PLAIN)
    assert torch.equal(a.image, b.image)


@pytest.mark.parametrize("name", [n for n in PROFILE_NAMES if n != IDEAL])
def test_every_profile_renders_a_portrait(name):
    p = lens_profile(name)
    img, depth = portrait_scene(96, 144)
    out = render_lens_bokeh(
        img, depth, LensSettings(p.focal_length_mm, p.max_aperture, 2.0), p.aperture, character=p.character
    )
    ideal = render_lens_bokeh(img, depth, LensSettings(p.focal_length_mm, p.max_aperture, 2.0), p.aperture)
    assert torch.isfinite(out.image).all() and out.image.shape == img.shape
    assert 0 < float((out.image - ideal.image).abs().mean()) < 0.05


def test_panel_discs_centre_round_corner_cats_eye():
    discs = profile_discs("classic 85 f/1.2")
    assert set(discs) == {"centre", "corner", "centre front", "corner front"}
    for d in discs.values():
        assert float(d.max()) == pytest.approx(1.0) and d.dim() == 2
    centre, _, _ = image_shape(discs["centre"])
    corner, _, _ = image_shape(discs["corner"])
    assert centre > 0.97 and corner < 0.9
    wide, _, _ = image_shape(profile_discs("anamorphic 50 T2 · 2×")["centre"])
    assert 1 / wide == pytest.approx(2.0, rel=0.03)
