"""Auto focus never yields NaN: when the eyes' depth is unusable (an eye outside the frame, a non-finite
depth under it) it falls back, in this order, to the face's depth, the subject's distance, then the nearest
region at the frame's centre, and the read-out says which it used."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from portraitos.engine.lens import auto_focus_distance
from portraitos.testing.comfy_host import run_node

SAMPLE = Path(__file__).resolve().parents[2] / "example_inputs" / "astronaut.jpg"


def small_crop() -> torch.Tensor:
    """The 160×160 crop of the pack's sample whose auto focus was NaN (one eye's position lies past the right
    edge of the crop)."""
    img = Image.open(SAMPLE).convert("RGB").crop((82, 88, 242, 248))
    return torch.from_numpy(np.array(img)).float()[None] / 255


def test_the_small_crop_renders_through_the_default_chain(comfy_nodes):
    img = small_crop()
    depth, _, _ = run_node(comfy_nodes.NODE_CLASS_MAPPINGS["DepthEstimate"], image=img)
    subject = depth.meta.get("subject_distance_m")
    lens = run_node(comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"], image=img, depth=depth, focus_distance_m=0.0)
    focus = lens.args[3]
    assert math.isfinite(focus) and focus > 0.1
    assert torch.isfinite(lens.args[0]).all()
    readout = lens.ui["text"][0]
    assert f"focus: {focus:.3g} m (" in readout
    eyes = depth.meta["eye_xy"]
    inside = [0 <= x <= 1 and 0 <= y <= 1 for x, y in eyes]
    assert not all(inside)  # the case reported: an eye past the crop's edge
    # the eye inside the frame is read; with none inside, the face is, and the read-out says why
    want = "(eyes)" if any(inside) else "(face (the eyes lie outside the frame))"
    assert want in readout, readout
    assert focus == pytest.approx(subject, rel=0.25)


def _two_planes():
    depth = torch.full((60, 80), 6.0)
    depth[10:50, 20:60] = 1.5  # the person
    depth[10:25, 30:50] = 1.4  # her face
    return depth


def test_eyes_outside_the_frame_fall_back_to_the_face():
    meta = {
        "eye_xy": [[0.45, 0.2], [1.03, 0.2]],
        "people": [{"person": 1, "eye_xy": [[0.45, 0.2], [1.03, 0.2]], "face_box_rel": [0.375, 0.166, 0.25, 0.25]}],
    }
    d, how = auto_focus_distance(_two_planes(), meta=meta)
    # one eye is still in the frame: its depth is used
    assert d == pytest.approx(1.4) and how.startswith("eyes")
    meta["eye_xy"] = [[1.2, 0.2], [1.03, 0.2]]
    d, how = auto_focus_distance(_two_planes(), meta=meta)
    assert d == pytest.approx(1.4) and how.startswith("face") and "outside the frame" in how


def test_non_finite_depth_at_the_eyes_falls_back_to_the_face():
    depth = _two_planes()
    depth[10:16, 30:50] = float("nan")
    meta = {"eye_xy": [[0.5, 0.2]], "people": [{"person": 1, "face_box_rel": [0.375, 0.166, 0.25, 0.25]}]}
    d, how = auto_focus_distance(depth, meta=meta)
    assert d == pytest.approx(1.4) and how.startswith("face") and "not finite" in how


def test_then_the_subject_then_the_frame_centre():
    depth = _two_planes()
    meta = {"eye_xy": [[1.5, 0.2]], "subject_distance_m": 1.6}
    d, how = auto_focus_distance(depth, meta=meta)
    assert d == pytest.approx(1.6) and how.startswith("subject")
    d, how = auto_focus_distance(depth, meta={"eye_xy": [[1.5, 0.2]], "subject_distance_m": float("nan")})
    assert d == pytest.approx(1.4, abs=0.11) and how.startswith("nearest central region") and "eyes" in how
    bad = torch.full((60, 80), float("nan"))
    d, how = auto_focus_distance(bad, meta={"eye_xy": [[0.5, 0.5]]})
    assert math.isfinite(d) and d > 0, (d, how)
