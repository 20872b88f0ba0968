"""NaN and ±infinity in IMAGE and MASK inputs (fp16 VAE decodes make them): every node that takes a picture
replaces them the same way on every size and dtype, runs, and says how many it replaced and in which input.
A property test: values at random positions, in random sizes and dtypes, through each node in ComfyUI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portraitos.engine.colour import srgb_to_linear, to_uint8_rgb
from portraitos.engine.finite import finite_depth_picture, finite_pixels

SIZES = [(32, 32), (33, 57), (64, 96), (32, 1500)]  # below and above 4096 values: formula and table decode


DTYPES = [torch.float32, torch.float16, torch.bfloat16]


BAD = (float("nan"), float("inf"), float("-inf"))


def _poisoned(shape, dtype, seed):
    """A random picture, the same picture with ``k`` non-finite values, and ``k``."""
    rng = np.random.default_rng(seed)
    clean = torch.from_numpy(rng.random(shape, dtype=np.float32)).to(dtype)
    bad = clean.clone()
    flat = bad.view(-1)
    k = int(rng.integers(1, 17))
    at = torch.from_numpy(rng.choice(flat.numel(), size=k, replace=False))
    flat[at] = torch.tensor([BAD[i % 3] for i in range(k)], dtype=dtype)
    return clean, bad, k


def _replaced(bad):
    return torch.nan_to_num(bad, nan=0.0, posinf=1.0, neginf=0.0)


def test_replacement_is_counted_and_the_same_everywhere():
    for seed, (h, w) in enumerate(SIZES):
        for dtype in DTYPES:
            _, bad, k = _poisoned((1, h, w, 3), dtype, seed)
            with pytest.warns(UserWarning, match=rf"image: {k} of {bad.numel()} values were NaN or infinite"):
                fixed = finite_pixels(bad, "image")
            assert torch.equal(fixed, _replaced(bad)) and fixed.dtype == dtype
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
