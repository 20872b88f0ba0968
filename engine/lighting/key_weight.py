"""Where the key light falls: the subject's weight (0..1), softened along its outline and with depth, so
the split between key and ambient light never shows as a hard cut or a line around hair and shoulders.

A matte's edge is never exactly the person's: a hard switch from key to ambient at it paints a thin
warm (or cool) line wherever the two disagree, along hair above all. Here the weight keeps the matte's
soft values and is smoothed across the outline by a tent about 1 % of the frame's long side either side
(a key light's own falloff), centred on it, so edge pixels that mix hair and background take a mix of
key and ambient; from depth, it also fades over a quarter of the scene's disparity range around the
split between subject and background, so what stands between them takes part of the key.

Where the depth carries the people's soft alpha (a portrait prior's layer alpha, hair strands included),
the outline needs no guess: a pixel that is a share a of the person takes a share a of the key, and the
background around her (alpha 0) takes none of it from her, so no warm (or cool) rim is left around her
hair; the rest of the frame follows depth as above, without feathering across her outline.
"""

from __future__ import annotations

import torch

from ..core.box_filter import box_mean, dilate
from ..depth.matte import subject_weight_from_depth

FEATHER = 0.005  # box radius of the tent as a fraction of the long side (the transition spans 4 of them)
DEPTH_RAMP = 0.25  # fraction of the disparity range over which the key fades from subject to background


def key_weight(
    height: int,
    width: int,
    depth_m: torch.Tensor | None = None,
    subject_mask: torch.Tensor | None = None,
    people_alpha: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """The key light's share ``[B,H,W]`` 0..1 from ``subject_mask [B,H,W]`` 0..1 if given, else from
    ``depth_m [B,H,W]`` metres, smoothed across the outline; None (key everywhere) without either.
    ``people_alpha [B,H,W]`` 0..1 (the people's soft alpha the depth carries), used when there is no
    ``subject_mask``: the people take the key by their alpha, exactly, and the rest by depth, unsmoothed
    (depth there is the background's, not a blend of the two across her outline). All at image size."""
    if subject_mask is None and people_alpha is not None:
        a = people_alpha.to(torch.float32).clamp(0.0, 1.0)
        if depth_m is None:
            return a
        rest = subject_weight_from_depth(depth_m, ramp=DEPTH_RAMP)
        # what lies around the people takes the key from depth only where it is no part of them: dilate their
        # solid part by the feather so that her own depth (a blend at the outline) does not light her rim
        r = max(1, round(FEATHER * max(height, width)))
        near = dilate(a > 0.02, r)
        return (a + (1.0 - a) * rest.masked_fill_(near, 0.0)).clamp_(0.0, 1.0)
    if subject_mask is not None:
        w = subject_mask.to(torch.float32)
    elif depth_m is not None:
        w = subject_weight_from_depth(depth_m, ramp=DEPTH_RAMP)
    else:
        return None
    r = max(1, round(FEATHER * max(height, width)))
    return box_mean(box_mean(w.unsqueeze(1), r), r).squeeze(1).clamp_(0.0, 1.0)
