"""Edges at depth steps against the exact thin lens: no outline ring around a head thrown out of focus.

Focused on the wall behind, a head at 0.8 m is a large soft disc. Its outline must not draw a ring: neither a
soft bright ring of the wall's own bright pixels (lamps) spread with the head's blur (one depth per pixel,
the edge pixels given to the nearer, blurred head), nor a thin sharp line of the head's colour left in the
sharp background by a matte a pixel tight (people as a layer of their own)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.reference import card, pattern_texture, render_pinhole, render_reference, to_photo

SIDE = 128
FOCUS_M, HEAD_M = 4.0, 0.8
LENS = LensSettings(85, 1.2, FOCUS_M)
HEAD_MM = 30.0  # the head's radius on its card
LAMP_MM = 10.0  # lamps on the wall, just outside the head's outline as the camera sees it


def _head(x, y):
    """A light-haired head: a bright disc, alpha 1 inside."""
    rgb, _ = pattern_texture(8.0, (1.0, 0.85, 0.6), 0.3)(x, y)
    inside = (x**2 + y**2 <= HEAD_MM**2).to(x.dtype)
    return rgb * 2.5, inside


def _wall(x, y):
    """A dim wall with small clipped lamps around where the head's outline falls on it."""
    rgb, a = pattern_texture(40.0, (0.6, 0.7, 1.0), 0.6)(x, y)
    rgb = rgb * 0.4
    ring = HEAD_MM * FOCUS_M / HEAD_M + 1.5 * LAMP_MM  # the outline seen from the camera, on the wall, and a bit
    lit = torch.zeros_like(x, dtype=torch.bool)
    for k in range(8):
        t = torch.tensor(k * 2 * torch.pi / 8 + 0.3, dtype=x.dtype)
        lit |= (x - ring * torch.cos(t)) ** 2 + (y - ring * torch.sin(t)) ** 2 <= LAMP_MM**2
    rgb = torch.where(lit.unsqueeze(-1), torch.full_like(rgb, 20.0), rgb)
    return rgb, a


@pytest.fixture(scope="module")
def head_before_wall():
    """Exact render, photo, true depth and the head's true alpha; 85 mm f/1.2 focused on the wall."""
    from portraitos.engine.lens.optics import ThinLens

    lens = ThinLens(85, 1.2, FOCUS_M)
    scene = [card(FOCUS_M, _wall), card(HEAD_M, _head)]
    exact = to_photo(render_reference(scene, lens, SIDE, SIDE, samples=48))
    linear, depth = render_pinhole(scene, lens, SIDE, SIDE, pixel_samples=16)

    def coverage(x, y):
        _, a = _head(x, y)
        return torch.ones(*x.shape, 3, dtype=x.dtype), a

    alpha = render_pinhole([card(HEAD_M, coverage)], lens, SIDE, SIDE, pixel_samples=16)[0][..., 0]
    return exact, to_photo(linear), depth, alpha


def _luma(img: torch.Tensor) -> torch.Tensor:
    return (img * torch.tensor([0.2126, 0.7152, 0.0722])).sum(-1)


def _around_outline(alpha: torch.Tensor, px: int) -> torch.Tensor:
    """``[H,W]`` bool: within ``px`` of the head's outline (where its alpha crosses ½)."""
    inside = (alpha >= 0.5).float()[None, None]
    grown = F.max_pool2d(inside, 2 * px + 1, 1, px)[0, 0] > 0
    shrunk = -F.max_pool2d(-inside, 2 * px + 1, 1, px)[0, 0] > 0
    return grown & ~shrunk


def _off_lamps(photo: torch.Tensor) -> torch.Tensor:
    """``[H,W]`` bool: away from the lamps (their clipped pixels and 2 px around them) in the photo ``[H,W,3]``."""
    lamps = (photo.min(-1).values > 0.98).float()[None, None]
    return ~(F.max_pool2d(lamps, 5, 1, 2)[0, 0] > 0)


def _excess(img: torch.Tensor, exact: torch.Tensor, where: torch.Tensor) -> float:
    """The mean excess brightness (sRGB luma, 0..1) of ``img`` over the exact image in ``where``."""
    return float((_luma(img) - _luma(exact))[where].mean())


def _psnr(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean(-1)[where].mean()))


def test_one_depth_per_pixel_draws_no_ring_around_the_blurred_head(head_before_wall):
    exact, photo, depth, alpha = head_before_wall
    out = render_lens_bokeh(photo[None], depth[None], LENS)
    radius = float(out.coc_px.abs().max()) / 2
    assert radius > 8.0  # the head is well out of focus
    ring = _around_outline(alpha, int(radius)) & _off_lamps(photo)
    # the lamps beside the outline are not spread with the head's blur (a bright ring 0.028 brighter than
    # the exact image on average, 30.7 dB, when the outline's pixels joined the nearer head)
    assert _excess(out.image[0], exact, ring) < 0.01
    assert _psnr(out.image[0], exact, ring) > 34.0


def test_a_matte_a_pixel_tight_leaves_no_outline(head_before_wall):
    exact, photo, depth, alpha = head_before_wall
    tight = -F.max_pool2d(-alpha[None, None], 3, 1, 1)[0]  # the matte eroded by one pixel
    out = render_lens_bokeh(photo[None], depth[None], LENS, layer_alpha=tight)
    ring = _around_outline(alpha, int(float(out.coc_px.abs().max()) / 2)) & _off_lamps(photo)
    # her outline's colour is not kept sharp in the background (0.029 too bright on average, 30.0 dB, when it was)
    assert _excess(out.image[0], exact, ring) < 0.01
    assert _psnr(out.image[0], exact, ring) > 33.0
    # with the true alpha her outline is no worse
    true_alpha = render_lens_bokeh(photo[None], depth[None], LENS, layer_alpha=alpha[None])
    assert _psnr(true_alpha.image[0], exact, ring) > 33.0


def test_her_outline_split_reads_her_colour_as_far_as_it_reaches(monkeypatch):
    """On a large frame the outline's split reaches edge_px (1/400 of the long side: 19 px at 8K) beyond her,
    farther than the colour split's own steps: her colour must be filled that far, or plain background
    there would be read as her (share 1) and blurred with her. Here edge_px is made 20 px on a 200 px frame."""
    import portraitos.engine.lens.edges as edges
    from portraitos.engine.lens.two_layer import layer_radii, split_colours

    monkeypatch.setattr(edges, "EDGE_FRACTION", 1 / 10)
    H = W = 200
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    alpha = (((yy - 100) ** 2 + (xx - 100) ** 2) < 50**2).float()
    g = torch.Generator().manual_seed(0)
    lin = torch.where(
        alpha.bool(), torch.tensor([0.6, 0.3, 0.2]).view(3, 1, 1), torch.tensor([0.1, 0.2, 0.4]).view(3, 1, 1)
    )
    lin = lin + 0.02 * torch.rand(3, H, W, generator=g)
    radius = torch.where(alpha.bool(), torch.tensor(12.0), torch.tensor(2.0))  # she is blurred more
    fg_radius, bg_radius = layer_radii(radius, alpha)
    fg, bg = split_colours(lin, alpha, fg_radius, bg_radius)
    out, _ = edges.rim_split(lin, alpha, fg, bg, fg_radius, bg_radius)
    dist = ((yy - 100) ** 2 + (xx - 100) ** 2).float().sqrt() - 50
    beyond = (dist > 13) & (dist < 20)  # past the colour split's reach, within the outline's
    assert float(out[beyond].max()) < 0.2  # plain background stays background
