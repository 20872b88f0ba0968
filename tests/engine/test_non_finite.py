"""NaN and ±infinity in pictures and depth pictures, in the engine: replaced the same way on every size and
dtype, and counted (the node tests: tests/comfy/test_non_finite_nodes.py)."""

from __future__ import annotations

import pytest
import torch

from portraitos.engine.core.colour import srgb_to_linear, to_uint8_rgb
from portraitos.engine.core.finite import finite_depth_picture, finite_pixels
from portraitos.testing.non_finite import DTYPES, SIZES, poisoned, replaced


def test_replacement_is_counted_and_the_same_everywhere():
    for seed, (h, w) in enumerate(SIZES):
        for dtype in DTYPES:
            _, bad, k = poisoned((1, h, w, 3), dtype, seed)
            with pytest.warns(UserWarning, match=rf"image: {k} of {bad.numel()} values were NaN or infinite"):
                fixed = finite_pixels(bad, "image")
            assert torch.equal(fixed, replaced(bad)) and fixed.dtype == dtype
    clean = torch.rand(2, 5, 5, 3)
    assert finite_pixels(clean, "image") is clean  # nothing to replace: no copy, no warning
    # the sRGB decode itself never fails on NaN and gives the same on the table path and the formula path
    x = torch.rand(4, 4096)
    x[0, :7] = float("nan")
    table = srgb_to_linear(x)
    formula = srgb_to_linear(x.double()).float()
    assert torch.isfinite(table).all() and torch.allclose(table, formula, atol=1e-6)
    assert table[0, :7].eq(0).all()
    assert to_uint8_rgb(torch.full((2, 2, 3), float("nan"))).max() == 0


def test_depth_pictures_take_the_median_for_non_finite_values():
    pic = torch.linspace(0, 1, 25).view(1, 5, 5)
    bad = pic.clone()
    bad[0, 0, :3] = float("nan")
    with pytest.warns(UserWarning, match="3 of 25 values"):
        fixed = finite_depth_picture(bad, "depth picture")
    assert torch.equal(fixed[0, 0, :3], torch.full((3,), float(pic[0].view(-1)[3:].median())))
    with pytest.raises(ValueError, match="no finite value"):
        finite_depth_picture(torch.full((1, 4, 4), float("nan")), "depth picture")
