"""Which focus wins on LensBokeh: a focus distance, then a picked point, then a focus mask."""

import torch

from portraitos.engine.lens.focus_point import focus_mask_for


def test_focus_precedence_distance_then_point_then_mask():
    given = torch.zeros(1, 20, 30)
    assert focus_mask_for("", 0.0, given, 20, 30) == (given, False, None)
    mask, from_point, note = focus_mask_for("0.5,0.5", 0.0, given, 20, 30)
    assert mask.shape == (1, 20, 30) and float(mask[0, 10, 15]) == 1.0 and from_point and note is None
    mask, from_point, note = focus_mask_for("0.5,0.5", 2.0, given, 20, 30)
    assert mask is given and not from_point and "ignored because focus_distance_m is set" in note
