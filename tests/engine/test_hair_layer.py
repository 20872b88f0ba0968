"""Hair over a blurred background: matting on a trimap, the colour split, and people rendered as a
layer of their own, against the exact thin lens."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from portraitos.engine.lens.optics import ThinLens
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.engine.lens.two_layer import split_colours
from portraitos.engine.people.matting import _MattingLaplacian, head_mask, matte_to_alpha, trimap
from portraitos.validation.reference import card, pattern_texture, render_pinhole, render_reference, to_photo

SIDE = 128
LENS = ThinLens(85, 1.8, 1.0)


def _strand_head(mm_per_px: float, radius_px: float):
    """A card texture: a brown disc (alpha 1) with 24 radial strands 0.6 px wide (alpha 0.8) leaving its
    upper half out to 1.5× its radius."""
    radius = radius_px * mm_per_px

    def texture(x, y):
        r = torch.sqrt(x**2 + y**2)
        a = (r < radius).double()
        angle = torch.atan2(-y, x)
        k = angle / math.pi * 24
        on_line = (k - torch.round(k)).abs() * (math.pi / 24) * r < 0.3 * mm_per_px
        strand = on_line & (r >= radius) & (r < 1.5 * radius) & (angle > 0.1) & (angle < math.pi - 0.1)
        a = torch.where(strand, torch.full_like(a, 0.8), a)
        rgb = torch.stack([0.35 + 0 * x, 0.18 + 0 * x, 0.08 + 0 * x], -1)
        return rgb, a

    return texture


@pytest.fixture(scope="module")
def strand_scene():
    """Exact render, photo, depth and true alpha of strands on a card at 1 m (in focus) before a
    patterned wall at 5 m, 85 mm f/1.8, full frame."""
    mm_per_px = (1000.0 / LENS.image_distance_mm) / LENS.pixels_per_mm(SIDE, SIDE)
    head = _strand_head(mm_per_px, 32)
    scene = [card(1.0, head), card(5.0, pattern_texture(15.0, (1.0, 1.0, 1.0), 0.9))]
    exact = to_photo(render_reference(scene, LENS, SIDE, SIDE, samples=48))
    linear, depth = render_pinhole(scene, LENS, SIDE, SIDE, pixel_samples=16)

    def coverage(x, y):
        rgb, a = head(x, y)
        return torch.ones_like(rgb), a

    alpha = render_pinhole([card(1.0, coverage)], LENS, SIDE, SIDE, pixel_samples=16)[0][..., 0]
    return exact, to_photo(linear), depth, alpha


def _psnr(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean(-1)[where].mean()))


def _band(alpha: torch.Tensor) -> torch.Tensor:
    mixed = ((alpha > 0.02) & (alpha < 0.98)).float()
    return F.max_pool2d(mixed[None, None], 5, 1, 2)[0, 0] > 0


def test_strands_over_a_blurred_background_match_the_exact_lens(strand_scene):
    exact, photo, depth, alpha = strand_scene
    band = _band(alpha)
    lens = LensSettings(85, 1.8, 1.0)
    one_depth = render_lens_bokeh(photo[None], depth[None], lens).image[0]
    layered = render_lens_bokeh(photo[None], depth[None], lens, layer_alpha=alpha[None]).image[0]
    before, after = _psnr(one_depth, exact, band), _psnr(layered, exact, band)
    # one depth per pixel keeps the wall's pattern sharp between the strands (or smears the strands)
    assert after > before + 8.0, (before, after)
    assert after > 33.0
    everywhere = torch.ones_like(band)
    assert _psnr(layered, exact, everywhere) > _psnr(one_depth, exact, everywhere)


def test_no_person_in_the_layer_changes_nothing(strand_scene):
    _exact, photo, depth, _alpha = strand_scene
    lens = LensSettings(85, 1.8, 1.0)
    plain = render_lens_bokeh(photo[None], depth[None], lens).image
    empty = render_lens_bokeh(photo[None], depth[None], lens, layer_alpha=torch.zeros(1, SIDE, SIDE)).image
    assert torch.equal(plain, empty)


def test_her_light_and_coverage_in_one_pass_equal_two_passes(strand_scene):
    # the renderer treats every colour plane alike, so the person's premultiplied colour and her alpha rendered
    # as 4 planes of one pass are the two 3-plane passes they replace; a wall out of focus behind her, her
    # head a little in front of the focus plane, so her own layers blur
    from portraitos.engine.core.colour import srgb_to_linear_planes
    from portraitos.engine.lens.aperture import Aperture
    from portraitos.engine.lens.renderer import RenderSettings, _nearer_wins, render_single
    from portraitos.engine.lens.two_layer import render_two_layers

    _exact, photo, depth, alpha = strand_scene
    lens = ThinLens(85, 1.8, 1.3)
    radius = lens.coc_px(depth, SIDE, SIDE) * 0.5
    lin = srgb_to_linear_planes(photo)
    calls = []

    def render(image, r, _box):
        calls.append(image.shape[0])
        return render_single(image, r, Aperture(), RenderSettings())

    one = render_two_layers(lin, radius, alpha, render, _nearer_wins, fused=True)
    two = render_two_layers(lin, radius, alpha, render, _nearer_wins, fused=False)
    assert calls == [3, 4, 3, 3, 3]  # background, then her planes: one pass of 4, or two of 3
    assert float(radius[alpha > 0.95].abs().max()) > 1.0
    assert torch.allclose(one, two, atol=1e-5, rtol=0), float((one - two).abs().max())


def _composite_strands(side: int = 256):
    """Brown head with strands (alpha 0.7) over a smooth colourful background: image, true alpha, a
    segmentation-like matte (the head only, softened), the head's box and where a segmentation would
    give the person some chance (the head and its hair)."""
    ys, xs = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    c, r = side / 2, side * 0.3
    background = torch.stack(
        [0.5 + 0.3 * torch.sin(xs / 23), 0.5 + 0.3 * torch.cos(ys / 31), 0.4 + 0.2 * torch.sin((xs + ys) / 17)], -1
    )
    person = torch.stack([0.55 + 0.05 * torch.sin(ys / 40), 0.3 + 0 * xs, 0.15 + 0 * xs], -1)
    dist = torch.sqrt((xs - c) ** 2 + (ys - c) ** 2)
    alpha = (dist < r).float()
    angle = torch.atan2(c - ys, xs - c)
    k = angle / math.pi * 25
    strand = ((k - torch.round(k)).abs() * (math.pi / 25) * dist < 0.6) & (dist >= r) & (dist < 1.3 * r)
    strand &= (angle > 0.2) & (angle < math.pi - 0.2)
    alpha = torch.where(strand, torch.full_like(alpha, 0.7), alpha)
    image = alpha[..., None] * person + (1 - alpha[..., None]) * background
    matte = F.avg_pool2d((dist < r + 1.5).float()[None, None], 5, 1, 2)[0, 0]
    box = (c - 0.6 * r, c - 0.5 * r, c + 0.6 * r, c + 0.7 * r)  # the face, in the lower half of the head
    return image, alpha, matte, box, person, background, dist < 1.35 * r


def test_matting_brings_back_the_strands_the_matte_misses():
    image, alpha, matte, box, _person, _background, chance = _composite_strands()
    tri = trimap(matte, [box], reach=chance)
    strands = (alpha > 0.5) & (alpha < 0.9)
    assert bool((tri[strands] == 0.5).all()), "the head's band reaches the strands"
    matted = matte_to_alpha(image, matte, [box], chance)
    unknown = tri == 0.5
    assert float(matte[strands].mean()) < 0.3
    assert float(matted[strands].mean()) > 0.45
    assert float((matted - alpha).abs()[unknown].sum()) < 0.9 * float((matte - alpha).abs()[unknown].sum())
    # around the head what is surely person or background stays so; elsewhere the matte is kept
    head = head_mask([box], *alpha.shape, alpha.device)
    assert bool((matted[(tri == 1.0) & head] == 1.0).all()) and bool((matted[(tri == 0.0) & head] == 0.0).all())
    assert torch.equal(matted[~head], matte[~head])


def test_the_matting_laplacian_is_symmetric_and_keeps_colour_lines():
    torch.manual_seed(0)
    guide = torch.rand(3, 40, 40, dtype=torch.float64)
    laplacian = _MattingLaplacian(guide, 2, 1e-4)
    x, y = torch.zeros(40, 40, dtype=torch.float64), torch.zeros(40, 40, dtype=torch.float64)
    x[10:30, 10:30] = torch.randn(20, 20, dtype=torch.float64)
    y[10:30, 10:30] = torch.randn(20, 20, dtype=torch.float64)
    assert float((laplacian(x) * y).sum()) == pytest.approx(float((x * laplacian(y)).sum()), rel=1e-9)
    assert float((laplacian(x) * x).sum()) > 0
    # an alpha that is one affine function of colour costs (almost) nothing
    affine = 0.3 + 0.5 * guide[0] - 0.2 * guide[1] + 0.1 * guide[2]
    assert float((laplacian(affine) * affine).sum()) < 1e-3 * float((laplacian(x) * x).sum())


def test_split_colours_recomposes_the_photo_and_finds_the_strands_colour():
    image, alpha, _matte, _box, person, _background, _chance = _composite_strands()
    lin = image.permute(2, 0, 1)
    fg, bg = split_colours(lin, alpha)
    recomposed = alpha * fg + (1 - alpha) * bg
    assert float((recomposed - lin).abs().max()) < 0.02
    strands = (alpha > 0.5) & (alpha < 0.9)
    err = (fg.permute(1, 2, 0)[strands] - person[strands]).abs().mean()
    assert float(err) < 0.05


def test_hair_coloured_things_beside_a_head_stay_out_where_the_segmentation_sees_nobody():
    image, alpha, matte, box, person, _background, chance = _composite_strands()
    side = image.shape[0]
    ys, xs = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    c, r = side / 2, side * 0.3
    dist, angle = torch.sqrt((xs - c) ** 2 + (ys - c) ** 2), torch.atan2(c - ys, xs - c)
    lamp = (dist >= r) & (dist < 1.25 * r) & (angle.abs() < 0.12)  # a rim of her colour touching her head
    image = torch.where(lamp[..., None], person, image)
    assert float(matte_to_alpha(image, matte, [box])[lamp].mean()) > 0.3, "the colour model alone takes it in"
    kept_out = matte_to_alpha(image, matte, [box], chance & ~lamp)
    # only the narrow band along the matte's own edge stays open
    assert float(kept_out[lamp & (dist > r + 6)].max()) < 0.05
    assert float(kept_out[lamp].mean()) < 0.15
    strands = (alpha > 0.5) & (alpha < 0.9)
    assert float(kept_out[strands].mean()) > 0.45


def test_a_person_thrown_out_of_focus_takes_what_cannot_be_told_apart():
    """Strands lighter than the head they leave: the fill of the head's colour is wrong for them, and
    that error must not go to a sharp background (a line along the outline once she is blurred)."""
    image, alpha, _matte, _box, person, background, _chance = _composite_strands()
    strands = (alpha > 0.2) & (alpha < 0.9)
    lighter = torch.where(strands[..., None], (person * 1.4).clamp(max=1), person)
    image = alpha[..., None] * lighter + (1 - alpha[..., None]) * background
    lin = image.permute(2, 0, 1)
    blurred, sharp = torch.full_like(alpha, 20.0), torch.zeros_like(alpha)
    truth = background.permute(2, 0, 1)[:, strands]
    _fg, bg_both_sharp = split_colours(lin, alpha)
    _fg, bg_person_blurred = split_colours(lin, alpha, blurred, sharp)
    err_sharp = float((bg_both_sharp[:, strands] - truth).abs().mean())
    err_blurred = float((bg_person_blurred[:, strands] - truth).abs().mean())
    assert err_blurred < 0.5 * err_sharp, (err_blurred, err_sharp)
    fg, bg = split_colours(lin, alpha, blurred, sharp)
    assert float((alpha * fg + (1 - alpha) * bg - lin).abs().max()) < 0.02


def test_a_large_frame_is_matted_downscaled_and_brought_back_along_the_photo():
    image, alpha, matte, box, _person, _background, chance = _composite_strands()

    def six_times(t: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        planes = t.permute(2, 0, 1)[None] if t.dim() == 3 else t[None, None]
        out = F.interpolate(planes.float(), scale_factor=6, mode=mode)[0]
        return out.permute(1, 2, 0) if t.dim() == 3 else out[0]

    big_alpha, big_matte = six_times(alpha), six_times(matte)
    matted = matte_to_alpha(
        six_times(image), big_matte, [tuple(v * 6 for v in box)], six_times(chance, "nearest") > 0.5
    )
    strands = (big_alpha > 0.5) & (big_alpha < 0.9)
    assert float(matted[strands].mean()) > float(big_matte[strands].mean()) + 0.08
    assert matted.shape == big_matte.shape
