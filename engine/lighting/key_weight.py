"""Where the key light falls: the subject's weight (0..1), softened along its outline and with depth, so
the split between key and ambient light never shows as a line around hair and shoulders.

A key light on a set is not cut to the person's outline: it falls on the whole person, hair included,
and spills past her edges onto what stands near her. The weight here keeps the (soft) matte's values,
is 1 over the person up to her outline and beyond it fades to the ambient over a feather of a few per
cent of the frame's long side; from depth, it also fades over a quarter of the scene's disparity range
around the split between subject and background, so what stands between them takes part of the key.
"""

from __future__ import annotations

import torch

from ..box_filter import box_mean
from ..depth.matte import subject_weight_from_depth

FEATHER = 0.015  # box radius of the feather as a fraction of the long side (the falloff spans 4 of them)
DEPTH_RAMP = 0.25  # fraction of the disparity range over which the key fades from subject to background


def key_weight(
    height: int, width: int, depth_m: torch.Tensor | None = None, subject_mask: torch.Tensor | None = None
) -> torch.Tensor | None:
    """The key light's share ``[B,H,W]`` 0..1 from ``subject_mask [B,H,W]`` 0..1 if given, else from
    ``depth_m [B,H,W]`` metres, with its spill past the outline; None (key everywhere) without either.
    Both at image size."""
    if subject_mask is not None:
        w = subject_mask.to(torch.float32)
    elif depth_m is not None:
        w = subject_weight_from_depth(depth_m, ramp=DEPTH_RAMP)
    else:
        return None
    r = max(1, round(FEATHER * max(height, width)))
    w = w.unsqueeze(1)
    # the person grown by 2r, then softened by a tent of half-width 2r: 1 up to her outline, 0 at 4r out
    grown = (box_mean((w > 0.5).to(w.dtype), 2 * r) > 1e-6).to(w.dtype)
    spill = box_mean(box_mean(grown, r), r)
    return torch.maximum(w, spill).squeeze(1).clamp_(0.0, 1.0)
