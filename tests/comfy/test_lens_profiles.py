"""LensBokeh's lens_profile input, in process: optional (saved workflows without it stay valid), 'ideal' by
default and bit for bit the render without it, every profile selectable."""

import torch

from portraitos.engine.depth import DepthMap
from portraitos.engine.lens import Aperture, LensSettings, render_lens_bokeh
from portraitos.engine.lens.profiles import IDEAL, PROFILE_NAMES, find_profile
from portraitos.testing.comfy_host import run_node


def scene():
    gen = torch.Generator().manual_seed(3)
    img = torch.rand(1, 48, 72, 3, generator=gen)
    depth = torch.full((1, 48, 72), 6.0)
    depth[:, 12:36, 24:48] = 2.0
    return img, depth


def test_lens_profile_is_an_optional_combo_defaulting_to_ideal(comfy_nodes):
    info = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"].INPUT_TYPES()
    assert "lens_profile" not in info["required"]
    kind, extra = info["optional"]["lens_profile"]
    assert kind == "COMBO" and list(extra["options"]) == list(PROFILE_NAMES) and extra["default"] == IDEAL


def test_ideal_and_no_profile_render_bit_for_bit_as_the_engine(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    img, depth = scene()
    common = dict(image=img, depth=DepthMap(depth), focal_length_mm=85.0, f_number=1.8, focus_distance_m=2.0)
    without = run_node(cls, **common).args[0]
    ideal = run_node(cls, **common, lens_profile=IDEAL).args[0]
    engine = render_lens_bokeh(img, depth, LensSettings(85.0, 1.8, 2.0), Aperture()).image
    assert torch.equal(without, ideal) and torch.equal(ideal, engine)


def test_every_profile_runs_through_the_node(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    img, depth = scene()
    common = dict(image=img, depth=DepthMap(depth), focal_length_mm=85.0, f_number=1.4, focus_distance_m=2.0)
    ideal = run_node(cls, **common).args[0]
    for name in PROFILE_NAMES[1:]:
        out = run_node(cls, **common, lens_profile=name)
        p = find_profile(name)
        engine = render_lens_bokeh(img, depth, LensSettings(85.0, 1.4, 2.0), p.aperture, character=p.character)
        assert torch.equal(out.args[0], engine.image), name
        assert not torch.equal(out.args[0], ideal), name
        assert name in " ".join(out.ui["text"]), name


def test_the_panel_route_answers_profile_discs_for_the_widgets():
    """services/lens_panel.py: the discs the lens panel draws are profile_discs() for the node's widgets
    (8-bit), for the ideal lens with the aperture the widgets set; a bad query is refused by name."""
    import pytest

    from portraitos.engine.lens.profiles import profile_discs
    from portraitos.services.lens_panel import RADIUS_PX, discs_payload

    q = {"profile": "vintage 58 f/2 · swirl", "f_number": "2", "focal_length_mm": "58", "sensor": "full frame 36x24"}
    got = discs_payload(q)
    want = profile_discs("vintage 58 f/2 · swirl", 2.0, 58.0, 2.0, "full frame 36x24", RADIUS_PX)
    assert got["profile"] == "vintage 58 f/2 · swirl" and set(got["discs"]) == set(want)
    for label, mask in want.items():
        d = got["discs"][label]
        alpha = torch.tensor(d["alpha"], dtype=torch.float32).reshape(d["size"], d["size"]) / 255
        assert d["size"] == mask.shape[-1] and (alpha - mask).abs().max() <= 0.5 / 255 + 1e-6
    assert got["discs"]["corner"]["size"] > got["discs"]["centre"]["size"]  # the swirl's curved field
    hexagon = discs_payload({"profile": IDEAL, "aperture_blades": "6"})["discs"]["centre"]
    round_ = discs_payload({"profile": IDEAL})["discs"]["centre"]
    assert hexagon["alpha"] != round_["alpha"]  # the ideal lens draws the widgets' blades
    for bad in ({"profile": "no such lens"}, {"f_number": "nan"}, {"sensor": "nope"}, {"aperture_blades": "2"}):
        with pytest.raises(ValueError):
            discs_payload(bad)
