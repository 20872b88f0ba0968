"""Focus picking: the editor's "x,y" point becomes the depth LensBokeh focuses at."""

import pytest
import torch

from portraitos.engine.depth import DepthMap
from portraitos.engine.lens import focus_point_mask, parse_focus_point
from portraitos.testing.comfy_host import run_node


def test_parse_focus_point():
    assert parse_focus_point("") is None and parse_focus_point("  ") is None and parse_focus_point(None) is None
    assert parse_focus_point("0.25, 0.75") == (0.25, 0.75)
    assert parse_focus_point("0,1") == (0.0, 1.0)
    for bad in ("0.5", "a,b", "0.1,0.2,0.3", "1.5,0.2", "-0.1,0.5", "nan,0.5"):
        with pytest.raises(ValueError, match="focus_point"):
            parse_focus_point(bad)


def test_mask_is_a_small_disc_at_the_point():
    m = focus_point_mask((0.25, 0.5), 100, 200)
    assert m.shape == (100, 200)
    ys, xs = torch.nonzero(m, as_tuple=True)
    assert float(xs.float().mean()) == pytest.approx(0.25 * 199, abs=0.5)
    assert float(ys.float().mean()) == pytest.approx(0.5 * 99, abs=0.5)
    assert 4 < int(m.sum()) < 60  # radius 2 % of the short side = 2 px: a few pixels, not a region


def _two_planes():
    depth = torch.full((1, 60, 80), 6.0)
    depth[:, 15:45, 25:55] = 1.5  # a near subject in the centre, a far wall around it
    return torch.rand(1, 60, 80, 3), DepthMap(depth)


@pytest.mark.parametrize("point,want", [("0.5,0.5", 1.5), ("0.05,0.9", 6.0), ("", 1.5)])
def test_lens_bokeh_focuses_at_the_depth_under_the_point(comfy_nodes, point, want):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    image, depth = _two_planes()
    out = run_node(cls, image=image, depth=depth, focus_point=point)
    assert out.args[3] == pytest.approx(want)
    text = str(out.ui["text"])  # the UI output is a dict (previews, text, read-outs)
    assert ("focus point" in text) == bool(point)


def test_lens_bokeh_focus_point_follows_the_image_not_the_depth_size(comfy_nodes):
    """The point is relative to the image; a coarser depth map is resampled to the image first."""
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    image = torch.rand(1, 60, 80, 3)
    depth = torch.full((1, 30, 40), 6.0)
    depth[:, :, 30:] = 2.0  # the right quarter is near
    out = run_node(cls, image=image, depth=DepthMap(depth), focus_point="0.9,0.5")
    assert out.args[3] == pytest.approx(2.0)


def test_lens_bokeh_rejects_an_unreadable_point(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    image, depth = _two_planes()
    with pytest.raises(ValueError, match="focus_point '2,0.5'"):
        run_node(cls, image=image, depth=depth, focus_point="2,0.5")


def test_an_unreadable_point_is_refused_when_the_prompt_is_queued(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    assert cls.validate_inputs(focus_point="0.3,0.6") is True
    assert cls.validate_inputs(focus_point="") is True
    msg = cls.validate_inputs(focus_point="left eye")
    assert isinstance(msg, str) and "focus_point 'left eye'" in msg and "'x,y'" in msg
