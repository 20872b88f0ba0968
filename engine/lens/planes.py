"""The planes of the renderer's 5-plane tensors ``[5,h,w]`` (or ``[n,5,T,T]`` batches of tiles).

Planes 0–3 mean the same in every such tensor: premultiplied linear RGB and coverage (0..1, the
share of the pixel that holds light). Plane 4 means one thing in a depth layer and another in the
accumulated image:

- a *layer* (one depth layer, before or after its blur): ``OCCLUDING``, the layer's coverage with each
  of its pixels' whole weight (``LayerAssignment.weights_into``), which hides what lies behind it;
- the *accumulator* (what has been laid down so far, far to near): ``RADIUS_SUM``, the coverage-weighted
  signed CoC radius (px) of what lies there (divided by coverage: how far away it is).
"""

from __future__ import annotations

import torch

PLANES = 5  # for RGB light; a render of C colour planes has C + 2 (the indices below count from the end)
RGB = slice(0, -2)  # premultiplied linear colour (RGB, or any C planes rendered alike)
COVERAGE = -2
LIGHT = slice(0, -1)  # colour and coverage: the planes that carry light
OCCLUDING = -1  # in a layer
RADIUS_SUM = -1  # in the accumulator


def planes(t: torch.Tensor, which: int | slice, dim: int = 0) -> torch.Tensor:
    """The plane ``which`` (an index, kept as a size-1 dimension) or planes (a slice) of ``t`` along ``dim``:
    a view, so that in-place updates reach ``t``."""
    if isinstance(which, int):
        return t.narrow(dim, which, 1)
    start, stop, _ = which.indices(t.shape[dim])
    return t.narrow(dim, start, stop - start)
