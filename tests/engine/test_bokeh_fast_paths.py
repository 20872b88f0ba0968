"""LensBokeh's fast paths against the plain computations they replace (no ComfyUI involved)."""

import pytest
import torch
import torch.nn.functional as F

from portraitos.engine.core import colour, min_filter
from portraitos.engine.lens import Aperture, LensSettings, RenderSettings, highlights, render_lens_bokeh, tiles
from portraitos.validation.scenes import portrait_scene


def test_min_filter_equals_max_pool():
    g = torch.Generator().manual_seed(1)
    for h, w, k in ((37, 53, 1), (40, 31, 4), (64, 80, 19), (9, 12, 19)):
        x = torch.randn(h, w, generator=g)
        neg = F.max_pool2d(-x.view(1, 1, h, w), (1, 2 * k + 1), stride=1, padding=(0, k))
        ref = -F.max_pool2d(neg, (2 * k + 1, 1), stride=1, padding=(k, 0)).view(h, w)
        assert torch.equal(min_filter.min_filter(x, k), ref), (h, w, k)


def test_srgb_table_matches_formula():
    """The interpolated decode table is within 1e-7 of the exact formula (float64) everywhere, 8-bit codes,
    any other value and out-of-range input alike; planes come out channels-first."""
    g = torch.Generator().manual_seed(2)
    codes = torch.randint(0, 256, (64, 96, 3), generator=g).float() / 255
    for x in (codes, torch.rand(64, 96, 3, generator=g), torch.rand(64, 96, 3, generator=g) * 2 - 0.5):
        exact = colour._srgb_to_linear_formula(x.double())
        table = colour.srgb_to_linear(x)
        assert table.shape == x.shape and table.dtype == torch.float32
        assert float((table.double() - exact).abs().max()) <= 1e-7
        planes = colour.srgb_to_linear_planes(x)
        assert torch.equal(planes, table.permute(2, 0, 1))
    srgb = torch.rand(70, 50, 3, generator=g)
    image = torch.empty(70, 50, 3)
    colour.linear_planes_to_srgb_image(colour.srgb_to_linear_planes(srgb), image)
    assert float((image - srgb).abs().max()) < 2e-6  # encode ∘ decode round trip


def _dense_lights(clipped: torch.Tensor, live: torch.Tensor, lin: torch.Tensor):
    """The per-light terms written out densely: edge cover (half on a clipped region's edge), the point-source
    factor from each light's size (8-connected live pixels, scipy's labelling) and each light's fringe colour
    (unclipped pixels within 2 px less those at 6 px) with how sure it is."""
    from scipy import ndimage

    H, W = clipped.shape
    pad = F.pad(clipped[None, None].float(), (1, 1, 1, 1), value=1.0)[0, 0] > 0
    edge = ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    cover = torch.where(edge, highlights.EDGE_COVER, 1.0)
    labels, k = ndimage.label(live.numpy(), structure=[[1, 1, 1]] * 3)
    labels = torch.from_numpy(labels).long()
    size = torch.bincount(labels.view(-1), minlength=k + 1).float()[labels] / (H * W)
    point = (highlights.POINT_AREA / size).sqrt().clamp(max=1.0)
    sums = {}
    for name, dists in (("fringe", range(1, highlights.FRINGE_PX + 1)), ("bg", [highlights.BACKGROUND_PX])):
        acc = torch.zeros(k + 1, 4)
        for d in dists:
            for dy in range(-d, d + 1):
                for dx in range(-d, d + 1):
                    if max(abs(dy), abs(dx)) != d:
                        continue
                    for y in range(H):
                        for x in range(W):
                            yy, xx = y + dy, x + dx
                            if labels[y, x] and 0 <= yy < H and 0 <= xx < W and not clipped[yy, xx]:
                                acc[labels[y, x], :3] += lin[:, yy, xx]
                                acc[labels[y, x], 3] += 1
        sums[name] = acc
    f, b = sums["fringe"], sums["bg"]
    excess = (f[:, :3] / f[:, 3:].clamp_min(1) - b[:, :3] / b[:, 3:].clamp_min(1)).clamp_min(0)
    lum = colour.luminance(excess, dim=-1)
    floor = highlights.FRINGE_MIN + highlights.FRINGE_CONTRAST * colour.luminance(
        b[:, :3] / b[:, 3:].clamp_min(1), dim=-1
    )
    sure = ((lum / floor) - 1).clamp(0, 1) * (f[:, 3] > 0).float()
    col = (excess / lum.clamp_min(1e-6).unsqueeze(1))[labels].permute(2, 0, 1)
    # the exposure: a light's prior falls inversely with its surroundings' luminance, whole up to SURROUND_FULL
    surround = colour.luminance(b[:, :3] / b[:, 3:].clamp_min(1), dim=-1).clamp_min(1e-6)
    exposure = (highlights.SURROUND_FULL / surround).clamp(max=1.0)
    return cover, point * exposure[labels], col, sure[labels]


def test_sparse_highlights_equal_dense_formula():
    """The sparse rebuild (only clipped pixels computed) equals the formula written out densely: gain from
    display luminance in the light's white, out-of-focus weight and compactness (clipped share in a CoC-sized box),
    each light's edge cover and size, and its colour (the LIGHTING's, else its fringe's)."""
    g = torch.Generator().manual_seed(3)
    img = torch.randint(0, 160, (50, 70, 3), generator=g).float() / 255
    spots = torch.randint(0, 50 * 70, (60,), generator=g)  # sparse bright pixels of any colour
    img.view(-1, 3)[spots] = 0.6 + 0.4 * torch.rand(60, 3, generator=g)
    img[10:30, 5:40] = 1.0  # an extended clipped surface
    radius = torch.rand(50, 70, generator=torch.Generator().manual_seed(4)) * 8
    for hl in (highlights.HighlightRebuild(0.8), highlights.HighlightRebuild(0.7, 4.0, (1.0, 0.8, 0.6))):
        lin = colour.srgb_to_linear(img).permute(2, 0, 1).contiguous()
        t = hl.threshold
        white = torch.ones(3, 1, 1) if hl.colour is None else torch.tensor(hl.colour).view(3, 1, 1)
        y = colour.linear_to_srgb(colour.luminance(lin / (white / white.max()), dim=0))
        over = ((y - t) / (1 - t)).clamp(0, 1)  # display luminance in the light's white
        clipped = (over > 0).float()
        blur = ((radius.abs() - 1) / 2).clamp(0, 1)
        share = torch.zeros_like(radius)
        for yy in range(50):
            for xx in range(70):
                s = max(1, int(torch.round(highlights.COMPACT_WINDOW * radius[yy, xx])))
                share[yy, xx] = clipped[max(0, yy - s) : yy + s + 1, max(0, xx - s) : xx + s + 1].mean()
        compact = ((highlights.COMPACT_NONE - share) / (highlights.COMPACT_NONE - highlights.COMPACT_FULL)).clamp(0, 1)
        weight = blur * compact
        cover, point, fringe, sure = _dense_lights(clipped > 0, weight * clipped > 0, lin)
        gain = 1 + hl.boost * point * over**hl.exponent * weight * cover
        mix = (over * weight).unsqueeze(0)
        if hl.colour is None:
            col, mix = fringe, mix * sure
        else:
            col = torch.tensor(hl.colour).view(3, 1, 1)
            col = col / colour.luminance(col.view(1, 3), dim=-1)
        dense = ((1 - mix) * lin + mix * colour.luminance(lin, dim=0).unsqueeze(0) * col) * gain
        fast = highlights.rebuild_highlights(lin.clone(), radius, hl, img.amax(-1))
        assert torch.allclose(fast, dense, rtol=1e-5, atol=1e-6)  # same formula; vector/scalar pow round-off
        changed = (fast != lin).any(0)
        assert int(changed.sum()) > 0  # the scene has lights that changed
        assert not bool(changed[14:26, 10:35].any())  # the inside of the clipped surface is left alone


def test_tiled_layers_match_whole_crop_convolution():
    """Near-focus layers convolved tile by tile (overlap-add) give the image of one convolution per layer."""
    img, depth = portrait_scene(300, 200)
    lens, aperture = LensSettings(85, 1.4, 2.0), Aperture(blades=5, rotation_deg=10)
    tiled = render_lens_bokeh(img, depth, lens, aperture, settings=RenderSettings(tiling="tiled"))
    whole = render_lens_bokeh(img, depth, lens, aperture, settings=RenderSettings(tiling="whole"))
    diff = (tiled.image - whole.image).abs()
    assert float(diff.mean()) < 1e-4
    assert float(diff.max()) < 0.02


def test_tiling_setting():
    """``auto`` tiles full-resolution layers on the CPU and renders them whole on a GPU; anything else is refused."""
    assert RenderSettings().tiles_on(torch.device("cpu"))
    assert not RenderSettings().tiles_on(torch.device("cuda"))
    assert RenderSettings(tiling="tiled").tiles_on(torch.device("cuda"))
    assert not RenderSettings(tiling="whole").tiles_on(torch.device("cpu"))
    with pytest.raises(ValueError, match="tiling"):
        RenderSettings(tiling="tile")


def test_chunked_passes_equal_whole_frame_computations():
    """The row-chunked full-frame passes (min filters, layer assignment, CoC, foreground reach) give the
    whole-frame results on an image tall and wide enough to span many chunks."""
    from portraitos.engine.core.chunks import row_chunks
    from portraitos.engine.lens import ThinLens
    from portraitos.engine.lens.layers import LayerAssignment, layer_radii
    from portraitos.engine.lens.pipeline import foreground_reach

    g = torch.Generator().manual_seed(5)
    h, w = 700, 900
    assert len(row_chunks(h, w)) > 3
    radius = torch.randn(h, w, generator=g) * 12
    for k in (1, 19):
        neg = F.max_pool2d(-radius.view(1, 1, h, w), (1, 2 * k + 1), stride=1, padding=(0, k))
        ref = -F.max_pool2d(neg, (2 * k + 1, 1), stride=1, padding=(k, 0)).view(h, w)
        assert torch.equal(min_filter.min_filter(radius, k), ref), k

    radii = layer_radii(float(radius.abs().max()))
    assign = LayerAssignment(radius, radii)
    r = radius.clamp(float(radii[0]), float(radii[-1]))
    upper = torch.bucketize(r, radii).clamp(1, len(radii) - 1)
    lo, hi = radii[upper - 1], radii[upper]
    assert torch.equal(assign.upper.long(), upper)
    assert torch.allclose(assign.frac, ((r - lo) / (hi - lo)).clamp(0, 1), atol=1e-6)
    for k in (0, len(radii) // 2, len(radii) - 2):
        mask = (upper == k) | (upper == k + 1)
        ys, xs = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        assert assign.bbox(k) == (int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1)

    grid = tiles.Tiles(assign, h, w)
    u = assign.upper.float()[None, None]
    for T in (64, 128, 256):  # per-tile layer ranges pooled from the finest grid = read from the image
        lo, hi = grid._layer_range(T)
        assert torch.equal(hi, F.max_pool2d(u, T, stride=T, ceil_mode=True)[0, 0])
        assert torch.equal(lo, -F.max_pool2d(-u, T, stride=T, ceil_mode=True)[0, 0])

    depth = torch.rand(h, w, generator=g) * 9 + 0.5
    lens = ThinLens(85, 1.8, 2.0)
    k = lens.aperture_mm * lens.image_distance_mm * lens.pixels_per_mm(h, w)  # CoC = K·(1/S − 1/Z), mm
    exact = k * (1 / 2000.0 - 1 / (depth.double() * 1000))
    assert torch.allclose(lens.coc_px(depth, h, w).double(), exact, rtol=1e-5, atol=1e-4)

    coc = torch.full((1, h, w), 0.2)
    coc[0, 300:310, 400:420] = -7.0  # a small object in front: reach = its box grown by 3.5 + 1 px
    reach = foreground_reach(coc)[0]
    ys, xs = torch.nonzero(reach.any(1)).flatten(), torch.nonzero(reach.any(0)).flatten()
    assert (int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1])) == (300 - 5, 309 + 5, 400 - 5, 419 + 5)
    assert int(reach.sum()) == (10 + 10) * (20 + 10)
