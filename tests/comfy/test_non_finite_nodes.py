"""NaN and ±infinity in IMAGE and MASK inputs (fp16 VAE decodes make them): every node that takes a picture
replaces them the same way on every size and dtype, runs, and says how many it replaced and in which input.
A property test: values at random positions, in random sizes and dtypes, through each node in ComfyUI."""

from __future__ import annotations

import pytest
import torch

from portraitos.engine.depth import DepthMap
from portraitos.testing.comfy_host import run_node
from portraitos.testing.non_finite import DTYPES, SIZES, poisoned, replaced


def _warnings(out) -> str:
    return " ".join(out.ui["portraitos"][0]["warnings"])


def _depth(h, w, b=1):
    d = torch.full((b, h, w), 6.0)
    d[:, h // 4 : 3 * h // 4 + 1, w // 4 : 3 * w // 4 + 1] = 2.0
    return DepthMap(d, "measured", {})


@pytest.mark.parametrize("seed", range(4))
def test_every_picture_node_runs_on_non_finite_pixels_as_on_replaced_ones(comfy_nodes, seed):
    nodes = comfy_nodes.NODE_CLASS_MAPPINGS
    h, w = SIZES[seed]
    dtype = DTYPES[seed % 3]
    clean, bad, k = poisoned((1, h, w, 3), dtype, seed)
    fixed = replaced(bad)

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
    _, mask_bad, k_mask = poisoned((1, h, w), torch.float32, seed + 10)
    from_picture = run_node(
        nodes["DepthFromImage"], depth_mask=mask_bad, calibration="near/far distances", near_distance_m=1.0
    )
    metres = from_picture.result[0].metres
    assert torch.isfinite(metres).all() and float(metres.min()) > 0
    assert "values were NaN or infinite" in _warnings(from_picture)
