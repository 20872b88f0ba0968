"""Where the key light falls: the subject's weight (0..1), softened along its outline and with depth, so
the split between key and ambient light never shows as a hard cut or a line around hair and shoulders.

A matte's edge is never exactly the person's: a hard switch from key to ambient at it paints a thin
warm (or cool) line wherever the two disagree, along hair above all. Here the weight keeps the matte's
soft values and is smoothed across the outline by a tent about 1 % of the frame's long side either side
(a key light's own falloff), centred on it, so edge pixels that mix hair and background take a mix of
key and ambient; from depth, it also fades over a quarter of the scene's disparity range around the
split between subject and background, so what stands between them takes part of the key.
"""

from __future__ import annotations

import torch

from ..box_filter import box_mean
from ..depth.matte import subject_weight_from_depth

FEATHER = 0.005  # box radius of the tent as a fraction of the long side (the transition spans 4 of them)
DEPTH_RAMP = 0.25  # fraction of the disparity range over which the key fades from subject to background


def key_weight(
    height: int, width: int, depth_m: torch.Tensor | None = None, subject_mask: torch.Tensor | None = None
) -> torch.Tensor | None:
    """The key light's share ``[B,H,W]`` 0..1 from ``subject_mask [B,H,W]`` 0..1 if given, else from
    ``depth_m [B,H,W]`` metres, smoothed across the outline; None (key everywhere) without either.
    Both at image size."""
    if subject_mask is not None:
        w = subject_mask.to(torch.float32)
    elif depth_m is not None:
        w = subject_weight_from_depth(depth_m, ramp=DEPTH_RAMP)
    else:
        return None
    r = max(1, round(FEATHER * max(height, width)))
    return box_mean(box_mean(w.unsqueeze(1), r), r).squeeze(1).clamp_(0.0, 1.0)
