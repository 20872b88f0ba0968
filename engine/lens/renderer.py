"""Optical bokeh renderer: layered scatter in linear light with thin-lens CoC and occlusion.

Pipeline for one image (all tensors channels-first internally, ``[C,H,W]``):

1. decode sRGB to linear light; signed CoC radius per pixel from the thin lens (``optics``);
   at depth discontinuities the nearer depth wins over a 3×3 neighbourhood, so mixed edge pixels
   stay with the sharp subject instead of leaking its colour into the blur;
2. rebuild clipped highlights (only where the pixel will be out of focus);
3. split the image into depth layers in CoC space with linear weights (``layers``);
4. far to near, each layer's premultiplied colour and coverage are *scattered* over the
   aperture shape (a convolution with an energy-normalised, hard-edged kernel: every source
   pixel spreads its light over its own disc) at a resolution that keeps the kernel small
   (cost nearly independent of blur size), then composited *over* what lies behind;
   Layers blurred at full resolution are convolved and composited only on the tiles they touch
   (overlap-add, ``_render_layer_tiled``); far layers are composited at their reduced scale and the
   accumulated image is upsampled once when a finer layer comes, so full-size buffers are touched
   only near focus and the cost grows with the pixel count, not with the blur size;
5. after each layer the accumulated image is normalised by its coverage: where nearer pixels
   left holes in a blurred background, the background is filled from the background around it
   (normalised convolution), never from the subject; before the foreground layers are laid
   over the subject, holes behind them are filled from their surroundings (push–pull);
6. re-encode to sRGB.

Occlusion follows from the ordering: an in-focus pixel covers what lies behind it completely,
so background never bleeds into a sharp subject; blurred foreground spreads semi-transparently
over it.

Speed: on the CPU the full-frame passes (decode, CoC, minimum filters, layer assignment, encode) run in
row chunks that stay in cache (``engine.chunks``) and tiled layers reuse their buffers; on a GPU every
pass is one whole-frame operation, and the layer loop never waits for the device (kernels are moved
before it, layer boxes come from tables on the host).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Optional

import torch
import torch.nn.functional as F

from ..chunks import row_chunks
from ..colour import linear_planes_to_srgb_image, linear_to_srgb, luminance, srgb_to_linear_planes
from .aperture import Aperture
from .layers import LayerAssignment, layer_radii, layer_spacing_scale, scale_for_radius
from .optics import ThinLens, sensor_diagonal_mm

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class HighlightRebuild:
    """How clipped highlights are rebuilt before blurring.

    threshold: display-referred value (brightest channel, 0..1) above which a pixel counts as a highlight.
    boost: extra gain at full clipping (a clipped pixel becomes up to ``1 + boost`` times brighter).
    colour: optional linear RGB (luminance 1) that highlights take (from a LIGHTING), else their own.
    """

    threshold: float = 0.9
    boost: float = 8.0
    colour: Optional[tuple[float, float, float]] = None
    exponent: float = 2.0

    @property
    def enabled(self) -> bool:
        return self.boost > 0 and self.threshold < 1.0


@dataclass
class RenderSettings:
    """Knobs of the layer renderer; defaults are the product's quality/speed balance."""

    base_radius_px: float = 16.0  # kernels up to 2× this run at full resolution
    layer_step_px: float = 1.0  # layer spacing near focus (px of CoC radius)
    layer_growth: float = 0.06  # relative spacing of large layer radii
    coverage_floor: float = 0.02  # below this coverage a pixel is left unnormalised (nothing there)
    occlusion_gap_px: float = 1.0  # a layer occludes what lies behind it when nearer by more than
    occlusion_gap_ratio: float = (
        0.1  # gap = gap_px + ratio·|radius behind| (fully at 2·gap); closer layers add up as one surface
    )
    edge_exclusion_fraction: float = 1 / 400  # far-side pixels this close (× long side, ≥ 1 px) to a nearer surface
    # hold mixed colours: they are filled, not scattered
    in_focus_coc_fraction: float = 1.0 / 1500.0  # acceptable CoC: sensor diagonal / 1500 (0.029 mm FF)


@dataclass
class BokehResult:
    image: torch.Tensor  # [B,H,W,3] sRGB 0..1
    coc_px: torch.Tensor  # [B,H,W] signed CoC diameter in pixels (+ behind focus)
    in_focus: torch.Tensor  # [B,H,W] 0..1, 1 = within the acceptable circle of confusion
    focus_distance_m: list[float] = field(default_factory=list)


def _fast_len(n: int) -> int:
    """Smallest 2^a·3^b·5^c ≥ n (FFT-friendly size)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear 'same' convolution of ``x [C,h,w]`` with ``kernel [k,k]`` (odd k); zeros outside."""
    k = kernel.shape[-1]
    if k == 1:
        return x * kernel.reshape(())
    c, h, w = x.shape
    H, W = _fast_len(h + k - 1), _fast_len(w + k - 1)
    X = torch.fft.rfft2(x, s=(H, W))
    K = torch.fft.rfft2(kernel.to(x.dtype), s=(H, W))
    y = torch.fft.irfft2(X * K, s=(H, W))
    half = k // 2
    return y[:, half : half + h, half : half + w]


def rebuild_highlights(
    lin: torch.Tensor,
    blur_weight: torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    hl: HighlightRebuild,
    display_max: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Brighten clipped highlights of linear ``lin [3,H,W]`` where ``blur_weight [H,W]`` (0..1) says out of focus
    (or a function giving the weights at flat pixel indices, so that only the highlights' are computed).

    A pixel is a highlight by its brightest channel in display terms, V' = max(R', G', B') (a light
    clipped in one channel is clipped all the same). Gain = 1 + boost·((V' − t)/(1 − t))^p above the
    threshold t. With a highlight colour the rebuilt light takes that chromaticity, keeping its
    luminance; the intensity follows the gain.

    Only pixels above the threshold change, so only they are computed (highlights are sparse);
    ``display_max [H,W]``, the brightest sRGB channel if the caller has it, picks them without
    re-encoding the whole image. ``lin`` is updated in place and returned.
    """
    if not hl.enabled:
        return lin
    t = hl.threshold
    flat = lin.view(3, -1)
    if display_max is None:
        display_max = linear_to_srgb(lin.amax(dim=0))
    # candidates with a margin for the round trip through linear light; V' itself is re-encoded below
    idx = torch.nonzero(display_max.reshape(-1) > t - 1e-3).squeeze(1)
    if idx.numel() == 0:
        return lin
    px = flat[:, idx]
    v_disp = linear_to_srgb(px.amax(dim=0))
    over = ((v_disp - t) / (1.0 - t)).clamp(0.0, 1.0)
    bw = blur_weight(idx) if callable(blur_weight) else blur_weight.reshape(-1)[idx]
    gain = 1.0 + hl.boost * over**hl.exponent * bw
    if hl.colour is None:
        flat[:, idx] = px * gain
        return lin
    col = torch.tensor(hl.colour, dtype=lin.dtype, device=lin.device).view(3, 1)
    col = col / luminance(col.view(1, 3), dim=-1).clamp_min(1e-6)
    # blend towards the illuminant's chromaticity by how far into the highlight range the pixel is
    mix = (over * bw).unsqueeze(0)
    tinted = luminance(px, dim=0).unsqueeze(0) * col
    flat[:, idx] = ((1 - mix) * px + mix * tinted) * gain
    return lin


def _push_pull_fill(rgb: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill pixels of ``rgb [C,H,W]`` with low ``weight [H,W]`` (0..1) from their surroundings.

    Classic push–pull: a weighted image pyramid down to a few pixels, then back up, each level
    taking its own weighted colour where weight is high and the coarser estimate elsewhere.
    """
    levels = []
    c = rgb * weight
    w = weight
    while min(w.shape[-2:]) > 4:
        levels.append((c, w))
        c = F.avg_pool2d(c.unsqueeze(0), 2, ceil_mode=True).squeeze(0)
        w = F.avg_pool2d(w.view(1, 1, *w.shape), 2, ceil_mode=True).view(c.shape[-2:])
    est = c / w.clamp_min(1e-8)
    for c_l, w_l in reversed(levels):
        up = F.interpolate(est.unsqueeze(0), size=c_l.shape[-2:], mode="bilinear", align_corners=False).squeeze(0)
        wc = w_l.clamp(0, 1)
        own = c_l / w_l.clamp_min(1e-8)
        est = torch.where(w_l > 1e-8, wc * own + (1 - wc) * up, up)
    return est


def _sliding_min(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Minimum over the window ``[i - k, i + k]`` along ``dim`` (truncated at the ends), exact.

    Doubling: windows of 2, 4, 8, … from shifted minima, then one more shift to reach 2k+1, so a
    window costs about log2(2k+1) element-wise passes (no index buffers, unlike ``max_pool2d``).
    """
    if k <= 0:
        return x
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [k, k]
    m = F.pad(x, pad, value=float("inf"))
    target, width = 2 * k + 1, 1
    while width * 2 <= target:
        n = m.shape[dim] - width
        m = torch.minimum(m.narrow(dim, 0, n), m.narrow(dim, width, n))
        width *= 2
    rest = target - width
    if rest:
        n = m.shape[dim] - rest
        m = torch.minimum(m.narrow(dim, 0, n), m.narrow(dim, rest, n))
    return m


def _min_filter_chunks(x: torch.Tensor, k: int):
    """Row chunks ``(y0, y1, minimum)`` of the (2k+1)² minimum filter of ``x [H,W]`` (separable; windows
    truncated at the borders). On the CPU the passes run chunk by chunk, so they stay in cache."""
    if x.device.type != "cpu":
        yield 0, x.shape[0], _sliding_min(_sliding_min(x, k, 1), k, 0)
        return
    H, W = x.shape
    across = torch.empty_like(x)
    for y0, y1 in row_chunks(H, W):
        across[y0:y1] = _sliding_min(x[y0:y1], k, 1)
    for y0, y1 in row_chunks(H, W, min_rows=4 * k):
        a0, a1 = max(0, y0 - k), min(H, y1 + k)
        yield y0, y1, _sliding_min(across[a0:a1], k, 0)[y0 - a0 : y1 - a0]


def _min_filter(x: torch.Tensor, k: int) -> torch.Tensor:
    """(2k+1)² minimum filter of ``x [H,W]``, separable; windows truncated at the borders."""
    if k <= 0:
        return x
    out = torch.empty_like(x)
    for y0, y1, m in _min_filter_chunks(x, k):
        out[y0:y1] = m
    return out


def _unmixed_source_weight(radius: torch.Tensor, settings: RenderSettings) -> torch.Tensor:
    """0 for pixels just behind a depth edge (a nearer surface within a few px), else 1.

    Such pixels mix the subject's colour (hair, anti-aliased edges) with the background's; scattered
    with the background's large blur they would draw a ghost of the subject around it. Left out,
    the hole they leave is filled from the clean background around them.
    """
    H, W = radius.shape
    k = max(1, round(settings.edge_exclusion_fraction * max(H, W)))
    out = torch.empty_like(radius)
    for y0, y1, nearest in _min_filter_chunks(radius, k):
        r = radius[y0:y1]
        # radius - nearest <= 2·(gap_px + ratio·|radius|)
        gap2 = r.abs().mul_(2 * settings.occlusion_gap_ratio).add_(2 * settings.occlusion_gap_px)
        out[y0:y1] = torch.le(nearest.neg().add_(r), gap2)
    return out


def _nearer_wins(radius: torch.Tensor) -> torch.Tensor:
    """3×3 minimum of the signed radius (nearer = smaller): edge pixels join the nearer surface."""
    return _min_filter(radius, 1)


class _Tiles:
    """A square tile grid over an ``H×W`` image for full-resolution layers: which tiles a layer touches.

    A near-focus layer is usually a thin band (a ring of a face, a receding floor); convolving and
    compositing only the tiles it touches keeps its cost proportional to its area, not to its bounding
    box. The per-tile layer ranges are read to the host once per tile size, so the layer loop itself
    needs no device synchronisation.
    """

    def __init__(self, assign: LayerAssignment, H: int, W: int):
        self.H, self.W = H, W
        self._upper = assign.upper
        self._ranges: dict[int, tuple[list, list]] = {}

    LARGEST = 256  # the largest tile side (kernels wider than 49 px)

    @staticmethod
    def size_for(kernel_size: int) -> int:
        """Tile side for a kernel: the tile outweighs its kernel halo, and a halo stays within one tile."""
        if kernel_size <= 17:
            return 64
        if kernel_size <= 49:
            return 128
        return _Tiles.LARGEST

    BASE_TILE = 64  # the smallest tile side; larger tiles' ranges are pooled from its grid

    def _layer_range(self, T: int):
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
        lo = torch.empty(gy, gx)
        hi = torch.empty(gy, gx)
        for ty in range(gy):
            band = self._upper[ty * T : (ty + 1) * T]
            if full:
                tiles = band[:, :full].reshape(band.shape[0], full // T, T)
                lo[ty, : full // T] = tiles.amin(dim=(0, 2)).float()
                hi[ty, : full // T] = tiles.amax(dim=(0, 2)).float()
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
        out = []
        for ty, row in enumerate(hit.tolist()):
            tx = 0
            n = len(row)
            while tx < n:
                if not row[tx]:
                    tx += 1
                    continue
                t0 = tx
                while tx < n and row[tx]:
                    tx += 1
                out.append((ty * T, min((ty + 1) * T, self.H), t0 * T, min(tx * T, self.W)))
        return out


class _TileWork:
    """Buffers the tiled layers reuse from one layer to the next (no fresh full-frame allocation per layer):
    the overlap-add sum ``[5,h,w]`` over the part of the frame they reach, and the zero-padded FFT inputs,
    one per padded size."""

    MAX_PADDED = 6  # padded sizes kept at once (beyond that the cache starts afresh: memory stays bounded)

    def __init__(self, box: tuple[int, int, int, int], dtype: torch.dtype):
        """``box`` (y0, y1, x0, x1): the frame's part that tiled layers can reach (their pixels' box plus two
        of the largest tiles: a run's tiles, their neighbours and the kernel's reach all lie inside it)."""
        self.y0, self.x0 = box[0], box[2]
        self.blurred = torch.empty(5, box[1] - box[0], box[3] - box[2], dtype=dtype)
        self._padded: dict[tuple[int, int], torch.Tensor] = {}
        self.spectra: dict[tuple[int, int], torch.Tensor] = {}  # padded size -> the current layer's kernel spectrum

    def padded(self, size: tuple[int, int], h: int, w: int) -> torch.Tensor:
        """A ``[5, *size]`` buffer, zero outside its top-left ``h×w`` (which the caller fills)."""
        buf = self._padded.get(size)
        if buf is None:
            if len(self._padded) >= self.MAX_PADDED:
                self._padded.clear()
            buf = self._padded[size] = torch.zeros(5, *size, dtype=self.blurred.dtype)
        else:
            buf[:, h:].zero_()
            buf[:, :h, w:].zero_()
        return buf


def _render_layer_tiled(
    acc: torch.Tensor,
    tiles: _Tiles,
    work: _TileWork,
    lin: torch.Tensor,
    assign: LayerAssignment,
    source: torch.Tensor,
    k: int,
    kernel: torch.Tensor,
    rk: float,
    settings: RenderSettings,
    tick: Optional[Callable[[float], None]] = None,
) -> None:
    """Scatter full-resolution layer ``k`` over the tiles it touches and lay it over ``acc [5,H,W]``.

    Each run of touched tiles is convolved on its own (FFT, linear convolution: no wrap-around) and
    the results are added where they overlap (overlap-add), which equals one convolution of the whole
    layer; the layer is then composited on the touched tiles and their neighbours (the kernel is never
    wider than a tile). ``tick(fraction)`` is called as the runs are convolved (progress, Cancel).
    """
    kk = kernel.shape[-1]
    half = kk // 2
    T = _Tiles.size_for(kk)
    src_runs = tiles.runs(k, T, grow=False)
    if not src_runs:
        return
    out_runs = tiles.runs(k, T, grow=True)
    # the overlap-add sum, in frame coordinates (it covers only the part of the frame tiled layers reach)
    total = work.blurred
    oy, ox = work.y0, work.x0
    work.spectra.clear()  # one kernel per layer
    for y0, y1, x0, x1 in out_runs:  # the sum is read on these tiles only; every run's spill lands inside them
        total[:, y0 - oy : y1 - oy, x0 - ox : x1 - ox].zero_()
    for run, (y0, y1, x0, x1) in enumerate(src_runs):
        if tick is not None:
            tick(run / len(src_runs))
        h, w = y1 - y0, x1 - x0
        size = (_fast_len(h + kk - 1), _fast_len(w + kk - 1))
        layer = work.padded(size, h, w)
        a, a_occ = layer[3, :h, :w], layer[4, :h, :w]
        assign.weights_into(k, y0, y1, x0, x1, a, a_occ)
        src = source[y0:y1, x0:x1]
        a.mul_(src)
        a_occ.mul_(src)
        torch.mul(lin[:, y0:y1, x0:x1], a, out=layer[:3, :h, :w])
        if kk == 1:
            conv = layer * kernel.reshape(())
        else:
            if size not in work.spectra:
                work.spectra[size] = torch.fft.rfft2(kernel.to(layer.dtype), s=size)
            conv = torch.fft.irfft2(torch.fft.rfft2(layer).mul_(work.spectra[size]), s=size)
        # overlap-add: the run's full convolution starts half a kernel above-left of it
        ty, tx = y0 - half, x0 - half
        ya, xa = max(ty, 0), max(tx, 0)
        yb, xb = min(ty + h + kk - 1, tiles.H), min(tx + w + kk - 1, tiles.W)
        total[:, ya - oy : yb - oy, xa - ox : xb - ox] += conv[:, ya - ty : yb - ty, xa - tx : xb - tx]
    for y0, y1, x0, x1 in out_runs:
        blurred = total[:, y0 - oy : y1 - oy, x0 - ox : x1 - ox].clamp_min_(0)
        # FFT round-off leaves ~1e-7 light where there is no coverage; drop it (see render_single)
        blurred[:4].masked_fill_(blurred[3:4] <= 1e-5, 0.0)
        _composite(acc[:, y0:y1, x0:x1], blurred, rk, settings)


def render_single(
    lin: torch.Tensor,
    radius: torch.Tensor,
    aperture: Aperture,
    settings: RenderSettings,
    progress: Optional[ProgressFn] = None,
    check_interrupt: Optional[Callable[[], None]] = None,
) -> torch.Tensor:
    """Render one linear image ``lin [3,H,W]`` with signed CoC radius map ``radius [H,W]`` (px).

    Returns linear RGB ``[3,H,W]``. The caller handles sRGB, highlights and batching.
    Layers whose blur runs at full resolution are processed tile by tile (``_render_layer_tiled``);
    larger blurs on a crop at reduced resolution.
    """
    _, H, W = lin.shape
    dev, dt = lin.device, lin.dtype
    max_r = float(radius.abs().max())
    radii = layer_radii(max_r, settings.layer_step_px, settings.layer_growth)
    assign = LayerAssignment(radius, radii)
    source = _unmixed_source_weight(radius, settings)
    radii_host = radii.tolist()  # read once: the layer loop then never waits for the device
    order = sorted(assign.used(), key=lambda i: -radii_host[i])  # far (most positive) to near
    if progress is not None:
        progress(0, max(len(order), 1))  # layers assigned: a tick before the first (largest) layer
    tiles = _Tiles(assign, H, W) if dev.type == "cpu" else None
    # premultiplied linear RGB, coverage, coverage-weighted signed radius of what has been laid down
    # far layers are laid down at the scale of their blur (one upsampling when a finer layer comes),
    # so full-size buffers are touched only by layers near focus
    acc_scale = scale_for_radius(radii_host[order[0]], settings.base_radius_px) if order else 1
    acc = torch.zeros(5, -(-H // acc_scale), -(-W // acc_scale), dtype=dt, device=dev)
    filled_for_foreground = False
    plans = {k: _layer_plan(k, radii_host, settings) for k in order}  # layer -> (scale, kernel key)
    kernels = _build_kernels({key for _s, key in plans.values()}, aperture, dt, dev)
    work = None
    if tiles is not None:
        tiled = [assign.bbox(k) for k in order if plans[k][0] == 1]
        tiled = [box for box in tiled if box is not None]
        if tiled:
            m = 2 * _Tiles.LARGEST
            reach = (
                max(0, min(b[0] for b in tiled) - m),
                min(H, max(b[1] for b in tiled) + m),
                max(0, min(b[2] for b in tiled) - m),
                min(W, max(b[3] for b in tiled) + m),
            )
            work = _TileWork(reach, dt)

    def refine(to_scale: int) -> None:
        nonlocal acc, acc_scale
        if to_scale < acc_scale:
            f = acc_scale // to_scale
            acc = F.interpolate(acc.unsqueeze(0), scale_factor=f, mode="bilinear", align_corners=False)[0]
            acc = acc[:, : -(-H // to_scale), : -(-W // to_scale)]  # a view: no second full-size copy
            acc_scale = to_scale

    for step, k in enumerate(order):
        if check_interrupt is not None:
            check_interrupt()
        rk = radii_host[k]
        if rk < -1.0 and not filled_for_foreground:
            refine(1)
            _fill_behind_foreground(acc, assign, k, radius, max_r)
            filled_for_foreground = True
        box = assign.bbox(k)
        if box is None:
            continue
        s, key = plans[k]
        refine(s)
        if s == 1 and work is not None:

            def tick(fraction: float, step: int = step) -> None:
                # a near-focus layer can take seconds at 8K: progress and Cancel within it
                if check_interrupt is not None:
                    check_interrupt()
                if progress is not None:
                    progress(step + fraction, len(order))

            _render_layer_tiled(acc, tiles, work, lin, assign, source, k, kernels[key], rk, settings, tick)
            if progress is not None:
                progress(step + 1, len(order))
            continue

        margin = int(math.ceil(abs(rk))) + 2 * s + 2
        y0 = max(0, box[0] - margin) // s * s
        x0 = max(0, box[2] - margin) // s * s
        y1 = min(H, box[1] + margin)
        x1 = min(W, box[3] + margin)

        layer = _layer_at_scale(lin, assign, source, k, (y0, y1, x0, x1), s)
        blurred = fft_convolve_same(layer, kernels[key])
        del layer
        # to the accumulator's scale (finer than the layer's only for blurred foreground over a sharper image)
        f = s // acc_scale
        if f > 1:
            blurred = F.interpolate(blurred.unsqueeze(0), scale_factor=f, mode="bilinear", align_corners=False)[0]
        ya, xa = y0 // acc_scale, x0 // acc_scale
        hc, wc = -(-y1 // acc_scale) - ya, -(-x1 // acc_scale) - xa
        blurred = blurred[:, :hc, :wc].clamp_min_(0)
        # FFT round-off leaves ~1e-7 light where there is no coverage; drop it so that colour and
        # coverage stay consistent (otherwise normalisation would amplify the round-off)
        blurred[:4].masked_fill_(blurred[3:4] <= 1e-5, 0.0)

        _composite(acc[:, ya : ya + hc, xa : xa + wc], blurred, rk, settings)
        del blurred
        if progress is not None:
            progress(step + 1, len(order))

    refine(1)
    return acc[:3].div_(acc[3:4].clamp_min(1e-6))  # normalised in place: no further full-size buffer


def _layer_at_scale(
    lin: torch.Tensor,
    assign: LayerAssignment,
    source: torch.Tensor,
    k: int,
    box: tuple[int, int, int, int],
    s: int,
) -> torch.Tensor:
    """Layer ``k`` on ``box`` (y0, y1, x0, x1) as ``[5, ⌈h/s⌉, ⌈w/s⌉]``: premultiplied RGB, coverage and
    occluding coverage, each the mean of an ``s×s`` block (zeros past the box's edge). On the CPU the
    full-resolution weights are made and pooled in row chunks, so they never fill a full-size buffer."""
    y0, y1, x0, x1 = box
    h, w = y1 - y0, x1 - x0
    wp = -(-w // s) * s
    rows = row_chunks(h, wp, multiple_of=s) if lin.device.type == "cpu" else [(0, h)]  # ~17+ rows a chunk
    out = torch.empty(5, -(-h // s), wp // s, dtype=lin.dtype, device=lin.device)
    for r0, r1 in rows:
        n = r1 - r0
        chunk = torch.zeros(5, -(-n // s) * s, wp, dtype=lin.dtype, device=lin.device)
        a, a_occ = chunk[3, :n, :w], chunk[4, :n, :w]
        assign.weights_into(k, y0 + r0, y0 + r1, x0, x1, a, a_occ)
        src = source[y0 + r0 : y0 + r1, x0:x1]
        a.mul_(src)
        a_occ.mul_(src)
        torch.mul(lin[:, y0 + r0 : y0 + r1, x0:x1], a, out=chunk[:3, :n, :w])
        out[:, r0 // s : r0 // s + chunk.shape[1] // s] = _mean_pool(chunk, s) if s > 1 else chunk
    return out


def _mean_pool(x: torch.Tensor, s: int) -> torch.Tensor:
    """Mean of each ``s×s`` block of ``x [C,h,w]`` (h, w multiples of s): rows, then columns."""
    c, h, w = x.shape
    rows = x.view(c, h // s, s, w).sum(2)
    return rows.view(c, h // s, w // s, s).sum(3).mul_(1.0 / (s * s))


def _layer_plan(k: int, radii_host: list[float], settings: RenderSettings) -> tuple[int, tuple[float, float]]:
    """Layer ``k``'s scale and its kernel's key: disc radius and edge ramp in that scale's pixels."""
    rk = radii_host[k]
    s = scale_for_radius(rk, settings.base_radius_px)
    rho = abs(rk) / s
    # ramp the disc edge over the local layer spacing (in this scale's pixels): neighbouring
    # layers then blend into a disc whose edge sits at the pixel's own radius
    lo_r = radii_host[max(k - 1, 0)]
    hi_r = radii_host[min(k + 1, len(radii_host) - 1)]
    edge = max(abs(hi_r - lo_r) / 2.0, 1.0) / s if abs(rk) >= 0.5 else 0.0
    return s, (round(rho, 4), round(edge, 4))


def _build_kernels(
    keys: set[tuple[float, float]], aperture: Aperture, dtype: torch.dtype, device: torch.device
) -> dict[tuple[float, float], torch.Tensor]:
    """Aperture kernels for ``(radius, edge)`` keys, built on the host and moved to ``device`` in one copy
    (before the layer loop, so that the loop itself never waits for a transfer)."""
    keys = sorted(keys)
    host = [aperture.kernel(rho, edge, dtype=dtype) for rho, edge in keys]
    if device.type == "cpu" or not host:
        return dict(zip(keys, host))
    flat = torch.cat([kernel.reshape(-1) for kernel in host]).to(device)
    out, at = {}, 0
    for key, kernel in zip(keys, host):
        out[key] = flat[at : at + kernel.numel()].view(kernel.shape)
        at += kernel.numel()
    return out


def _composite(
    region: torch.Tensor, blurred: torch.Tensor, rk: float, settings: RenderSettings, channel_dim: int = 0
) -> None:
    """Lay one blurred layer over ``region [5,h,w]`` (or a batch of tiles ``[n,5,T,T]``, ``channel_dim=1``).

    ``blurred`` (same shape): premultiplied RGB, coverage, and the occluding coverage (the layer's pixels
    with their whole weight, see ``LayerAssignment.weights_into``); ``rk`` the layer's radius.

    Per pixel, the occlusion weight o says whether this layer is really in front of what has been
    laid down there (its radius smaller by more than the gap) or part of the same surface. Where it
    occludes, what lies behind is first normalised by its coverage (holes left by nearer pixels are
    filled from the background around them) and then covered ``over``; where it does not, light adds
    up (a continuous surface split into layers must not dim or brighten at the layer seams).
    """
    floor = settings.coverage_floor

    def ch(t: torch.Tensor, i: int, j: Optional[int] = None) -> torch.Tensor:
        return t.narrow(channel_dim, i, 1 if j is None else j - i)

    rgb, cov, rsum = ch(region, 0, 3), ch(region, 3), ch(region, 4)
    behind_r = rsum / cov.clamp_min(1e-6)
    # the gap follows the layer spacing where this layer sits: among the half-pixel layers near focus it is
    # halved, so a sharp subject covers even a slightly defocused background completely
    gap_px = settings.occlusion_gap_px * layer_spacing_scale(rk)
    gap = behind_r.abs().mul_(settings.occlusion_gap_ratio).add_(gap_px)
    # o = clamp((behind_r - rk - gap) / gap, 0, 1) · [cov > 1e-5]
    o = behind_r.sub_(rk).sub_(gap).div_(gap).clamp_(0, 1).masked_fill_(cov <= 1e-5, 0.0)
    del gap
    # fill holes behind an occluding layer (blend towards the coverage-normalised content,
    # scale = 1 + o·(1/cov − 1)), then cover it by the layer's occluding coverage (keep = 1 − o·occ);
    # both factors applied at once
    scale = cov.clamp_min(floor).reciprocal_().sub_(1.0).mul_(o).add_(1.0)
    factor = ch(blurred, 4).clamp(0, 1).mul_(o).neg_().add_(1.0).mul_(scale)
    del o, scale
    a = ch(blurred, 3)
    rgb.mul_(factor).add_(ch(blurred, 0, 3))
    cov.mul_(factor).add_(a)
    rsum.mul_(factor).add_(a, alpha=rk)


def _fill_behind_foreground(
    acc: torch.Tensor, assign: LayerAssignment, k: int, radius: torch.Tensor, max_r: float
) -> None:
    """Fill, in place, what lies behind foreground pixels (layers ≤ k) before they are laid over.

    A blurred foreground object turns semi-transparent at its edges and reveals what the photo
    never saw behind it; that is taken from the surroundings of the accumulated image (push–pull),
    so the sharp subject continues behind it rather than the far background showing through.
    """
    box = assign.bbox_at_or_in_front(k)  # from the host's presence table: no device synchronisation
    if box is None:
        return
    H, W = radius.shape
    m = int(math.ceil(max_r)) + 2
    y0, y1 = max(0, box[0] - m), min(H, box[1] + m)
    x0, x1 = max(0, box[2] - m), min(W, box[3] + m)
    front = assign.weight_at_or_in_front(k, y0, y1, x0, x1)
    region = acc[:, y0:y1, x0:x1]
    cov = region[3].clamp_min(1e-6)
    colour = region[:3] / cov
    mean_r = region[4] / cov
    behind = (1.0 - front) * region[3].clamp(0, 1)
    filled = _push_pull_fill(torch.cat([colour, mean_r.unsqueeze(0)]), behind)
    region[:3] = filled[:3]
    region[4] = filled[3]
    region[3] = 1.0


def _in_focus_weight(coc: torch.Tensor, acceptable_px: float, out: torch.Tensor) -> None:
    """``out [H,W]`` = 1 within the acceptable CoC diameter (px), falling to 0 at twice it."""
    chunks = row_chunks(*coc.shape) if coc.device.type == "cpu" else [(0, coc.shape[0])]
    for y0, y1 in chunks:
        out[y0:y1] = coc[y0:y1].abs().mul_(-1.0 / acceptable_px).add_(2.0).clamp_(0.0, 1.0)


def _blur_weight_at(radius: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """How out of focus the pixels at flat ``index`` are: 0 up to a 1 px CoC radius, 1 from 3 px."""
    return radius.reshape(-1)[index].abs().sub_(1.0).div_(2.0).clamp_(0.0, 1.0)


def render_bokeh(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lens: ThinLens | list[ThinLens],
    aperture: Aperture = Aperture(),
    highlights: HighlightRebuild = HighlightRebuild(),
    settings: RenderSettings | None = None,
    progress: Optional[ProgressFn] = None,
    check_interrupt: Optional[Callable[[], None]] = None,
) -> BokehResult:
    """Render lens bokeh for a batch.

    image: ``[B,H,W,3]`` sRGB 0..1. depth_m: ``[B,H,W]`` metres (already cleaned and at image size).
    lens: one ThinLens for all images or one per image (auto focus may differ per image).
    Returns the rendered batch, signed CoC diameters (px) and an in-focus mask.
    """
    settings = settings or RenderSettings()
    b, H, W, c = image.shape
    if c != 3:
        raise ValueError(f"image must have 3 channels (RGB), got {c}")
    if depth_m.shape != (b, H, W):
        raise ValueError(f"depth {tuple(depth_m.shape)} must match image [B,H,W] = {(b, H, W)}")
    lenses = lens if isinstance(lens, list) else [lens] * b
    out = torch.empty_like(image)
    cocs = torch.empty(b, H, W, dtype=image.dtype, device=image.device)
    masks = torch.empty_like(cocs)
    for i in range(b):
        ln = lenses[i]
        coc = ln.coc_px(depth_m[i], H, W).to(image.device)
        cocs[i] = coc
        ppm = ln.pixels_per_mm(H, W)
        acceptable = max(settings.in_focus_coc_fraction * sensor_diagonal_mm(ln.sensor) * ppm, 1.0)
        _in_focus_weight(coc, acceptable, masks[i])

        def setup_tick(step: int, _i=i) -> None:
            # the first 4 % of each image's share of the bar: the full-frame passes before the layers
            if check_interrupt is not None:
                check_interrupt()
            if progress is not None:
                progress(_i * 1000 + 10 * step, b * 1000)

        setup_tick(0)  # the circles of confusion are known
        radius = _nearer_wins(coc).mul_(0.5)
        setup_tick(1)
        lin = srgb_to_linear_planes(image[i])
        setup_tick(2)
        lin = rebuild_highlights(lin, partial(_blur_weight_at, radius), highlights, image[i].amax(dim=-1))
        setup_tick(3)

        def prog(done: float, total: int, _i=i) -> None:
            if progress is not None:
                progress(_i * 1000 + 40 + int(960 * done / max(total, 1)), b * 1000)

        rendered = render_single(lin, radius, aperture, settings, prog, check_interrupt)
        linear_planes_to_srgb_image(rendered, out[i])
    return BokehResult(out, cocs, masks, [ln.focus_distance_m for ln in lenses])
