"""NaN and ±infinity in IMAGE and MASK inputs (fp16 VAE decodes make them): every node that takes a picture
replaces them the same way on every size and dtype, runs, and says how many it replaced and in which input.
A property test: values at random positions, in random sizes and dtypes, through each node in ComfyUI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from comfy_host import run_node

from portraitos.engine.colour import srgb_to_linear, to_uint8_rgb
from portraitos.engine.depth import DepthMap
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


def _warnings(out) -> str:
    return " ".join(out.ui["portraitos"][0]["warnings"])


def _depth(h, w, b=1):
    d = torch.full((b, h, w), 6.0)
    d[:, h // 4 : 3 * h // 4 + 1, w // 4 : 3 * w // 4 + 1] = 2.0
    return DepthMap(d, "measured", {})


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


@pytest.mark.parametrize("seed", range(4))
def test_every_picture_node_runs_on_non_finite_pixels_as_on_replaced_ones(comfy_nodes, seed):
    nodes = comfy_nodes.NODE_CLASS_MAPPINGS
    h, w = SIZES[seed]
    dtype = DTYPES[seed % 3]
    clean, bad, k = _poisoned((1, h, w, 3), dtype, seed)
    fixed = _replaced(bad)

    lens_bad = run_node(nodes["LensBokeh"], image=bad, depth=_depth(h, w), f_number=1.4)
    lens_fixed = run_node(nodes["LensBokeh"], image=fixed, depth=_depth(h, w), f_number=1.4)
    assert torch.isfinite(lens_bad.result[0]).all()
    assert torch.equal(lens_bad.result[0], lens_fixed.result[0])
    assert f"image: {k} of" in _warnings(lens_bad)

    lit_bad = run_node(nodes["LightingTint"], image=bad, preset="warm cinematic")
    lit_fixed = run_node(nodes["LightingTint"], image=fixed, preset="warm cinematic")
    assert torch.equal(lit_bad.result[0], lit_fixed.result[0]) and torch.isfinite(lit_bad.result[0]).all()
    assert f"image: {k} of" in _warnings(lit_bad)

    depth_bad = run_node(nodes["DepthEstimate"], image=bad)
    assert torch.isfinite(depth_bad.result[0].metres).all()
    assert f"image: {k} of" in _warnings(depth_bad)

    # a depth picture from another pack (MASK), poisoned too
    _, mask_bad, k_mask = _poisoned((1, h, w), torch.float32, seed + 10)
    from_picture = run_node(
        nodes["DepthFromImage"], depth_mask=mask_bad, calibration="near/far distances", near_distance_m=1.0
    )
    metres = from_picture.result[0].metres
    assert torch.isfinite(metres).all() and float(metres.min()) > 0
    assert "values were NaN or infinite" in _warnings(from_picture)
