"""One depth layer scattered over the aperture on a crop of the frame, at the scale of its blur.

Scattering a layer's premultiplied light and coverage (every source pixel spreads over its own
disc) is a convolution with the energy-normalised aperture kernel. A blur of radius r runs at the
power-of-two scale s that keeps the kernel between ``base`` and ``2·base`` px (``scale_for_radius``):
the layer is box-averaged to ``1/s``, convolved (FFT) and composited there.

Sizes in full-resolution pixels unless stated; tensors ``[5,h,w]`` with the planes of ``planes``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from ..core.chunks import row_chunks
from .character import LayerKernels
from .composite import composite, drop_round_off
from .fft import fft_convolve_same
from .layers import LayerAssignment
from .planes import COVERAGE, OCCLUDING, RGB
from .zones import convolve_same_zoned


def layer_planes(
    lin: torch.Tensor,
    assign: LayerAssignment,
    source: torch.Tensor,
    k: int,
    box: tuple[int, int, int, int],
    s: int,
) -> torch.Tensor:
    """Layer ``k`` on ``box`` (y0, y1, x0, x1) as ``[5, ⌈h/s⌉, ⌈w/s⌉]``: premultiplied RGB, coverage and
    ``OCCLUDING`` coverage, each the mean of an ``s×s`` block (zeros past the box's edge).

    lin: ``[3,H,W]`` linear RGB; source: ``[H,W]`` 0..1, the share of each pixel that is scattered. On the
    CPU the full-resolution weights are made and pooled in row chunks, so they never fill a full-size buffer.
    """
    y0, y1, x0, x1 = box
    h, w = y1 - y0, x1 - x0
    wp = -(-w // s) * s
    rows = row_chunks(h, wp, multiple_of=s) if lin.device.type == "cpu" else [(0, h)]  # ~17+ rows a chunk
    n_planes = lin.shape[0] + 2  # colour planes, coverage, occluding
    out = torch.empty(n_planes, -(-h // s), wp // s, dtype=lin.dtype, device=lin.device)
    for r0, r1 in rows:
        n = r1 - r0
        chunk = torch.zeros(n_planes, -(-n // s) * s, wp, dtype=lin.dtype, device=lin.device)
        a, a_occ = chunk[COVERAGE, :n, :w], chunk[OCCLUDING, :n, :w]
        assign.weights_into(k, y0 + r0, y0 + r1, x0, x1, a, a_occ)
        src = source[y0 + r0 : y0 + r1, x0:x1]
        a.mul_(src)
        a_occ.mul_(src)
        torch.mul(lin[:, y0 + r0 : y0 + r1, x0:x1], a, out=chunk[RGB, :n, :w])
        out[:, r0 // s : r0 // s + chunk.shape[1] // s] = mean_pool(chunk, s) if s > 1 else chunk
    return out


def mean_pool(x: torch.Tensor, s: int) -> torch.Tensor:
    """Mean of each ``s×s`` block of ``x [C,h,w]`` (h, w multiples of s): ``[C,h/s,w/s]``, rows, then columns."""
    c, h, w = x.shape
    rows = x.view(c, h // s, s, w).sum(2)
    return rows.view(c, h // s, w // s, s).sum(3).mul_(1.0 / (s * s))


def scatter_on_crop(
    acc: torch.Tensor,
    acc_scale: int,
    lin: torch.Tensor,
    assign: LayerAssignment,
    source: torch.Tensor,
    k: int,
    box: tuple[int, int, int, int],
    s: int,
    kernel: torch.Tensor | LayerKernels,
    rk: float,
    settings,
    zone_edges: Optional[tuple[list[int], list[int]]] = None,
) -> None:
    """Scatter layer ``k`` (radius ``rk`` px, pixels in ``box``) at scale ``s`` and lay it over ``acc``.

    acc: ``[5,⌈H/acc_scale⌉,⌈W/acc_scale⌉]`` the accumulator at its scale (``acc_scale`` ≤ ``s``);
    kernel: ``[k,k]`` in the pixels of scale ``s``, or a lens character's per-plane, per-zone kernels (with
    ``zone_edges``, full-resolution px: ``zones``). The crop is the layer's box grown by the blur's reach.
    """
    _, H, W = lin.shape
    margin = int(math.ceil(abs(rk))) + 2 * s + 2
    if isinstance(kernel, LayerKernels):  # a character's disc may reach past the layer's radius
        margin = max(margin, (kernel.size // 2 + 2) * s + 2)
    y0 = max(0, box[0] - margin) // s * s
    x0 = max(0, box[2] - margin) // s * s
    y1 = min(H, box[1] + margin)
    x1 = min(W, box[3] + margin)

    layer = layer_planes(lin, assign, source, k, (y0, y1, x0, x1), s)
    if isinstance(kernel, LayerKernels):
        assert zone_edges is not None
        blurred = convolve_same_zoned(layer, kernel, (y0, x0), s, zone_edges)
    else:
        blurred = fft_convolve_same(layer, kernel)
    del layer
    # to the accumulator's scale (finer than the layer's only for blurred foreground over a sharper image)
    f = s // acc_scale
    if f > 1:
        blurred = F.interpolate(blurred.unsqueeze(0), scale_factor=f, mode="bilinear", align_corners=False)[0]
    ya, xa = y0 // acc_scale, x0 // acc_scale
    hc, wc = -(-y1 // acc_scale) - ya, -(-x1 // acc_scale) - xa
    blurred = drop_round_off(blurred[:, :hc, :wc])
    composite(acc[:, ya : ya + hc, xa : xa + wc], blurred, rk, settings)
