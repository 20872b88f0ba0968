"""Degenerate picture sizes at every node that takes a picture: 1×1, one row, one column, 2×3. Each node
either runs and returns pictures of the input's size with finite values, or refuses with a ValueError
that names the input and the size — never an IndexError or a shape error from deep inside torch."""

from __future__ import annotations

import pytest
import torch

from portraitos.engine.depth import DepthMap
from portraitos.testing.comfy_host import run_node

SHAPES = [(1, 1), (1, 64), (64, 1), (2, 3)]


def _depth(h, w):
    return DepthMap(torch.full((1, h, w), 3.0), "measured", {})


def _outcome(call):
    """("ran", result) or ("refused", message); anything else fails the test with its traceback."""
    try:
        return "ran", call()
    except ValueError as e:
        return "refused", str(e)


def _check_pictures(result, h, w):
    for out in result:
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            assert out.shape[1:3] == (h, w) and bool(torch.isfinite(out).all()), out.shape
        if isinstance(out, DepthMap):
            assert out.metres.shape[-2:] == (h, w) and bool(torch.isfinite(out.metres).all())


@pytest.mark.parametrize("h,w", SHAPES, ids=lambda v: str(v))
def test_degenerate_sizes_run_or_are_refused_by_name(comfy_nodes, h, w):
    nodes = comfy_nodes.NODE_CLASS_MAPPINGS
    img = torch.rand(1, h, w, 3)
    calls = {
        "LensBokeh": lambda: run_node(nodes["LensBokeh"], image=img, depth=_depth(h, w), f_number=1.4),
        "LightingTint": lambda: run_node(nodes["LightingTint"], image=img, preset="warm cinematic"),
        "DepthEstimate": lambda: run_node(nodes["DepthEstimate"], image=img),
        "DepthFromImage": lambda: run_node(
            nodes["DepthFromImage"], depth_image=img, calibration="near/far distances", near_distance_m=1.0
        ),
        "DepthFromImage (face calibration)": lambda: run_node(
            nodes["DepthFromImage"], depth_image=img, image=img, calibration="face"
        ),
    }
    outcomes = {}
    for name, call in calls.items():
        kind, value = _outcome(call)
        outcomes[name] = kind
        if kind == "ran":
            _check_pictures(value.result, h, w)
        else:
            assert "image" in value and (f"{h}" in value or f"{w}" in value), (name, value)
    # the lens and the lighting work on any size (they need no detector)
    assert outcomes["LensBokeh"] == "ran" and outcomes["LightingTint"] == "ran", outcomes
