"""Full-resolution layers scattered tile by tile: convolution by overlap-add over the tiles a layer touches.

A near-focus layer is usually a thin band (a ring of a face, a receding floor); convolving and compositing
only the tiles it touches keeps its cost proportional to its area, not to its bounding box. Each run of
touched tiles is convolved on its own (zero-padded FFT, so no wrap-around) and the results are summed
where they overlap (overlap-add, Stockham 1966), which equals one convolution of the whole layer.

Sizes in pixels; tensors ``[5,h,w]`` with the planes of ``planes`` (layers: ``OCCLUDING`` in plane 4).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..core.progress import Progress
from .character import LayerKernels
from .composite import composite, drop_round_off
from .fft import fft_convolve_full, padded_size
from .layers import LayerAssignment
from .planes import COVERAGE, OCCLUDING, PLANES, RGB
from .zones import multiply_identity, plane_spectrum, zone_segments


def tile_runs(hit: torch.Tensor, T: int, H: int, W: int) -> list[tuple[int, int, int, int]]:
    """Pixel boxes ``(y0, y1, x0, x1)`` of an ``H×W`` frame, one per horizontal run of set tiles in ``hit``
    (bool ``[ceil(H/T), ceil(W/T)]``, one entry per ``T×T`` tile)."""
    out = []
    for ty, row in enumerate(hit.tolist()):
        tx, n = 0, len(row)
        while tx < n:
            if not row[tx]:
                tx += 1
                continue
            t0 = tx
            while tx < n and row[tx]:
                tx += 1
            out.append((ty * T, min((ty + 1) * T, H), t0 * T, min(tx * T, W)))
    return out


class Tiles:
    """A square tile grid over an ``H×W`` image: which tiles a layer touches.

    The per-tile layer ranges are read to the host once per tile size, so the layer loop itself needs
    no device synchronisation.
    """

    LARGEST = 256  # the largest tile side (kernels wider than 49 px)
    BASE_TILE = 64  # the smallest tile side; larger tiles' ranges are pooled from its grid

    def __init__(self, assign: LayerAssignment, H: int, W: int):
        self.H, self.W = H, W
        self._upper = assign.upper
        self._ranges: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @staticmethod
    def size_for(kernel_size: int) -> int:
        """Tile side (px) for a kernel: the tile outweighs its kernel halo, and a halo stays within one tile."""
        if kernel_size <= 17:
            return 64
        if kernel_size <= 49:
            return 128
        return Tiles.LARGEST

    def _layer_range(self, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per tile, the smallest and largest upper layer index of its pixels (host tensors ``[gy,gx]``).
        Read from the image once, on the finest grid, a band of rows at a time; coarser grids pool it."""
        if T not in self._ranges:
            if T == self.BASE_TILE:
                self._ranges[T] = self._base_range()
            else:
                lo, hi = self._layer_range(self.BASE_TILE)
                f = T // self.BASE_TILE
                hi_t = F.max_pool2d(hi[None, None], f, stride=f, ceil_mode=True)[0, 0]
                lo_t = -F.max_pool2d(-lo[None, None], f, stride=f, ceil_mode=True)[0, 0]
                self._ranges[T] = (lo_t, hi_t)
        return self._ranges[T]

    def _base_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        T, H, W = self.BASE_TILE, self.H, self.W
        gy, gx, full = -(-H // T), -(-W // T), W // T * T
        lo = torch.empty(gy, gx, device="cpu")
        hi = torch.empty(gy, gx, device="cpu")
        for ty in range(gy):
            band = self._upper[ty * T : (ty + 1) * T]
            if full:
                tiles = band[:, :full].reshape(band.shape[0], full // T, T)
                lo[ty, : full // T] = tiles.amin(dim=(0, 2)).float().cpu()
                hi[ty, : full // T] = tiles.amax(dim=(0, 2)).float().cpu()
            if full < W:
                lo[ty, -1] = float(band[:, full:].amin())
                hi[ty, -1] = float(band[:, full:].amax())
        return lo, hi

    def runs(self, k: int, T: int, grow: bool) -> list[tuple[int, int, int, int]]:
        """Pixel boxes ``(y0, y1, x0, x1)``, one per horizontal run of tiles that hold pixels giving layer
        ``k`` weight (upper index k or k+1); with ``grow``, the tiles next to them as well."""
        lo, hi = self._layer_range(T)
        hit = (lo <= k + 1) & (hi >= k)
        if grow:
            hit = F.max_pool2d(hit.to(torch.float32)[None, None], 3, stride=1, padding=1)[0, 0] > 0
        return tile_runs(hit, T, self.H, self.W)


class TileWork:
    """Buffers the tiled layers reuse from one layer to the next (no fresh full-frame allocation per layer):
    the overlap-add sum ``[5,h,w]`` over the part of the frame they reach, and the zero-padded FFT inputs
    ``[5,*size]``, one per padded size."""

    MAX_PADDED = 6  # padded sizes kept at once (beyond that the cache starts afresh: memory stays bounded)

    def __init__(self, box: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device, planes: int = PLANES):
        """``box`` (y0, y1, x0, x1): the frame's part that tiled layers can reach (their pixels' box plus two
        of the largest tiles: a run's tiles, their neighbours and the kernel's reach all lie inside it)."""
        self.y0, self.x0 = box[0], box[2]
        self.blurred = torch.empty(planes, box[1] - box[0], box[3] - box[2], dtype=dtype, device=device)
        self._padded: dict[tuple[int, int], torch.Tensor] = {}
        self.spectra: dict[tuple[int, int], torch.Tensor] = {}  # padded size -> the current layer's kernel spectrum
        self.zone_spectra: dict[tuple[int, tuple[int, int]], torch.Tensor] = {}  # (zone, size) -> spectrum

    @classmethod
    def reaching(
        cls, boxes: list, H: int, W: int, dtype: torch.dtype, device: torch.device, planes: int = PLANES
    ) -> Optional[TileWork]:
        """Buffers for tiled layers whose pixels lie in ``boxes`` (y0, y1, x0, x1; None for an empty layer),
        of ``planes`` planes (colour planes + 2)."""
        boxes = [box for box in boxes if box is not None]
        if not boxes:
            return None
        m = 2 * Tiles.LARGEST
        reach = (
            max(0, min(b[0] for b in boxes) - m),
            min(H, max(b[1] for b in boxes) + m),
            max(0, min(b[2] for b in boxes) - m),
            min(W, max(b[3] for b in boxes) + m),
        )
        return cls(reach, dtype, device, planes)

    def padded(self, size: tuple[int, int], h: int, w: int) -> torch.Tensor:
        """A ``[5, *size]`` buffer, zero outside its top-left ``h×w`` (which the caller fills)."""
        buf = self._padded.get(size)
        if buf is None:
            if len(self._padded) >= self.MAX_PADDED:
                self._padded.clear()
            buf = torch.zeros(self.blurred.shape[0], *size, dtype=self.blurred.dtype, device=self.blurred.device)
            self._padded[size] = buf
        else:
            buf[:, h:].zero_()
            buf[:, :h, w:].zero_()
        return buf

    def spectrum(self, kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The current layer's ``kernel [k,k]`` transformed at padded ``size`` (once per size and layer)."""
        if size not in self.spectra:
            self.spectra[size] = torch.fft.rfft2(kernel.to(self.blurred.dtype), s=size)
        return self.spectra[size]

    def zone_spectrum(self, kernels: LayerKernels, zone: int, size: tuple[int, int]) -> torch.Tensor:
        """A lens character's kernel ``[P,k,k]`` of ``zone`` transformed at ``size`` (once per zone, size, layer)."""
        key = (zone, size)
        if key not in self.zone_spectra:
            self.zone_spectra[key] = plane_spectrum(kernels.kernels[zone], size, self.blurred.dtype)
        return self.zone_spectra[key]


def scatter_tiled(
    acc: torch.Tensor,
    tiles: Tiles,
    work: TileWork,
    lin: torch.Tensor,
    assign: LayerAssignment,
    source: torch.Tensor,
    k: int,
    kernel: torch.Tensor | LayerKernels,
    rk: float,
    settings,
    progress: Progress = Progress(),
    zone_edges: Optional[tuple[list[int], list[int]]] = None,
) -> None:
    """Scatter full-resolution layer ``k`` (radius ``rk`` px) over the tiles it touches and lay it over
    ``acc [5,H,W]`` (full resolution).

    lin: ``[3,H,W]`` linear RGB; source: ``[H,W]`` 0..1, the share of each pixel that is scattered (see
    ``renderer``); kernel: ``[k,k]`` the layer's aperture kernel. Each run of touched tiles is convolved on
    its own and the results added where they overlap; the layer is then composited on the touched tiles
    and their neighbours (the kernel is never wider than a tile). ``progress`` counts the runs as they
    are convolved, Cancel is honoured before each. A lens character's kernels (``LayerKernels``, with
    ``zone_edges``) cut each run where the field zone of its tiles changes, each piece convolved with its
    zone's kernel.
    """
    zoned = kernel if isinstance(kernel, LayerKernels) else None
    kk = kernel.size if isinstance(kernel, LayerKernels) else int(kernel.shape[-1])
    half = kk // 2
    T = Tiles.size_for(kk)
    src_runs = tiles.runs(k, T, grow=False)
    if not src_runs:
        return
    out_runs = tiles.runs(k, T, grow=True)
    # the overlap-add sum, in frame coordinates (it covers only the part of the frame tiled layers reach)
    total = work.blurred
    oy, ox = work.y0, work.x0
    work.spectra.clear()  # one kernel per layer
    work.zone_spectra.clear()
    if zoned is not None:
        assert zone_edges is not None
        pieces = [piece for run in src_runs for piece in zone_segments(run, zone_edges, zoned.grid)]
    else:
        pieces = [(0, run) for run in src_runs]
    for y0, y1, x0, x1 in out_runs:  # the sum is read on these tiles only; every run's spill lands inside them
        total[:, y0 - oy : y1 - oy, x0 - ox : x1 - ox].zero_()
    for run, (zone, (y0, y1, x0, x1)) in enumerate(pieces):
        progress.check()
        progress.advance(run, len(pieces))
        h, w = y1 - y0, x1 - x0
        size = padded_size(h, w, kk)
        layer = work.padded(size, h, w)
        a, a_occ = layer[COVERAGE, :h, :w], layer[OCCLUDING, :h, :w]
        assign.weights_into(k, y0, y1, x0, x1, a, a_occ)
        src = source[y0:y1, x0:x1]
        a.mul_(src)
        a_occ.mul_(src)
        torch.mul(lin[:, y0:y1, x0:x1], a, out=layer[RGB, :h, :w])
        if zoned is not None:
            if kk == 1:
                conv = multiply_identity(layer, zoned.kernels[zone])
            else:
                conv = fft_convolve_full(layer, work.zone_spectrum(zoned, zone, size))
        else:
            assert isinstance(kernel, torch.Tensor)
            conv = layer * kernel.reshape(()) if kk == 1 else fft_convolve_full(layer, work.spectrum(kernel, size))
        # overlap-add: the run's full convolution starts half a kernel above-left of it
        ty, tx = y0 - half, x0 - half
        ya, xa = max(ty, 0), max(tx, 0)
        yb, xb = min(ty + h + kk - 1, tiles.H), min(tx + w + kk - 1, tiles.W)
        total[:, ya - oy : yb - oy, xa - ox : xb - ox] += conv[:, ya - ty : yb - ty, xa - tx : xb - tx]
    for y0, y1, x0, x1 in out_runs:
        blurred = drop_round_off(total[:, y0 - oy : y1 - oy, x0 - ox : x1 - ox])
        composite(acc[:, y0:y1, x0:x1], blurred, rk, settings)
