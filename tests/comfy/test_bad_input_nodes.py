"""Bad input at the nodes, in-process in ComfyUI: what validation refuses before a run (HTTP 400 over the
API), depth pictures read with the wrong polarity, batches that do not agree."""

from __future__ import annotations

import pytest
import torch
from skimage import data

from portraitos.testing.comfy_host import run_node

ASTRONAUT = torch.from_numpy(data.astronaut()).float()[None] / 255


def _disparity_with_near_face(h=512, w=512) -> torch.Tensor:
    """A Depth Anything style MASK: the head and shoulders bright (near), the room dark (far)."""
    pic = torch.full((1, h, w), 0.15)
    pic[0, 40:512, 150:330] = 0.8  # head and body
    pic[0, 300:512, 60:440] = 0.7  # shoulders
    return pic


def test_depth_from_image_says_when_the_polarity_is_the_wrong_way_round(comfy_nodes):
    node = comfy_nodes.NODE_CLASS_MAPPINGS["DepthFromImage"]
    pic = _disparity_with_near_face()
    right = run_node(node, depth_mask=pic, image=ASTRONAUT, near_is_bright=True)
    assert not any("other way round" in w for w in right.ui["portraitos"][0]["warnings"])
    wrong = run_node(node, depth_mask=pic, image=ASTRONAUT, near_is_bright=False)
    (warning,) = [w for w in wrong.ui["portraitos"][0]["warnings"] if "other way round" in w]
    assert "set near_is_bright to True" in warning, warning
    assert wrong.result[0].meta["polarity_doubt"] > 0.6


def test_depth_from_image_refuses_bad_values_before_the_run(comfy_nodes):
    node = comfy_nodes.NODE_CLASS_MAPPINGS["DepthFromImage"]
    ok = dict(calibration="face", near_distance_m=0.0, far_distance_m=6.0, encoding="disparity")
    assert node.validate_inputs(**ok) is True
    for bad, says in (
        ({"encoding": "inverse"}, "encoding 'inverse' is not one of"),
        ({"sensor": "potato"}, "sensor 'potato' is not one of"),
        ({"focal_length_mm": float("nan")}, "focal_length_mm must be a finite number"),
        ({"depth_image": "x.png"}, "depth_image"),
        ({"near_is_bright": "yes"}, "near_is_bright must be true or false"),
        ({"calibration": "near/far distances", "near_distance_m": 0.0}, "near/far distances need"),
    ):
        message = node.validate_inputs(**{**ok, **bad})
        assert isinstance(message, str) and says in message, (bad, message)


def test_depth_from_image_batches_must_agree(comfy_nodes):
    node = comfy_nodes.NODE_CLASS_MAPPINGS["DepthFromImage"]
    pic = _disparity_with_near_face(64, 64).expand(3, -1, -1)
    photo = torch.rand(2, 64, 64, 3)
    with pytest.raises(ValueError, match="image has a batch of 2 but depth picture has 3"):
        run_node(node, depth_mask=pic, image=photo, calibration="near/far distances", near_distance_m=1.0)


def test_lens_bokeh_refuses_unknown_choices(comfy_nodes):
    node = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    assert "depth_lens 'sometimes' is not one of" in node.validate_inputs(depth_lens="sometimes")
    assert "preview 'both' is not one of" in node.validate_inputs(preview="both")
    assert node.validate_inputs(preview="result") is True
