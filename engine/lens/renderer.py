"""Optical bokeh renderer: layered scatter in linear light with thin-lens CoC and occlusion.

Lineage: a post-process depth of field from one sharp image and its depth, with the circle of confusion
of a thin lens and every pixel's light distributed over it (Potmesil & Chakravarty 1981); the image split
into depth layers with soft (matting) weights, blurred layer by layer and composited far to near, with
the disoccluded content behind the foreground interpolated by pull–push (Kraus & Strengert 2007). Here the
layers lie in CoC space, each is blurred by an aperture-shaped kernel (a scatter, not a gather) by FFT
convolution, and occlusion between layers is decided per pixel.

Pipeline for one image (all tensors channels-first internally, ``[C,H,W]``; radii in pixels):

1. decode sRGB to linear light; signed CoC radius per pixel from the thin lens (``optics``);
   at depth discontinuities a pixel joins the nearer depth of its 3×3 neighbourhood where that surface is also
   the sharper one (``edges.sharper_wins``), so mixed edge pixels stay with the sharp surface instead of
   leaking its colour into the blur;
2. rebuild clipped highlights, only where the pixel will be out of focus (``highlights``);
3. split the image into depth layers in CoC space with linear weights (``layers``);
4. far to near, each layer's premultiplied colour and coverage are *scattered* over the aperture shape
   (a convolution with an energy-normalised, hard-edged kernel: every source pixel spreads its light over
   its own disc) at a resolution that keeps the kernel small, so the cost hardly depends on the blur size
   (``scatter``), then composited *over* what lies behind (``composite``). Far layers are composited at
   their reduced scale and the accumulated image is upsampled once when a finer layer comes, so
   full-size buffers are touched only near focus. Layers blurred at full resolution run either tile by
   tile, on the tiles they touch (overlap-add, ``tiles``), or on their whole crop like the others:
   ``RenderSettings.tiling``;
5. where a layer occludes, what lies behind it is first normalised by its coverage: holes that nearer
   pixels left in a blurred background are filled from the background around them (normalised
   convolution), never from the subject; before the foreground layers are laid over the subject, what
   lies behind them is filled from its surroundings (push–pull, ``fill``);
6. re-encode to sRGB.

With a layer alpha (people standing in front of everything else, from a portrait prior), steps 3–5 run
three times: the background with the people taken out, then the people's premultiplied colour and their
coverage, each at its own depth; the people are then laid over the background (``two_layer``), so a
pixel that is half hair strand, half background is both sharp and blurred, as through a lens.

Occlusion follows from the ordering: an in-focus pixel covers what lies behind it completely,
so background never bleeds into a sharp subject; blurred foreground spreads semi-transparently
over it.

The accumulator and the layers are 5-plane tensors (premultiplied RGB, coverage, and a fifth plane that
differs between them: ``planes``).

Speed: on the CPU the full-frame passes (decode, CoC, minimum filters, layer assignment, encode) run in
row chunks that stay in cache (``engine.core.chunks``) and full-resolution layers are tiled, reusing their
buffers; on a GPU every pass is one whole-frame operation, and the layer loop never waits for the device
(kernels are moved before it, layer boxes come from tables on the host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Optional

import torch
import torch.nn.functional as F

from ..core.chunks import row_chunks
from ..core.colour import linear_planes_to_srgb_image, srgb_to_linear_planes
from ..core.min_filter import min_filter_chunks
from ..core.progress import Progress
from .aperture import Aperture
from .character import CharacterModel, Frame, LensCharacter
from .edges import sharper_wins
from .fft import fft_convolve_same
from .fill import fill_behind_foreground, fill_uncovered
from .grain import regrain
from .highlights import HighlightRebuild, rebuild_highlights
from .layers import LayerAssignment, layer_radii, scale_for_radius
from .optics import ThinLens, sensor_diagonal_mm
from .planes import COVERAGE, RGB
from .scatter import scatter_on_crop
from .tiles import Tiles, TileWork, scatter_tiled
from .two_layer import has_layer, render_two_layers

__all__ = [
    "BokehResult",
    "HighlightRebuild",
    "RenderSettings",
    "fft_convolve_same",
    "rebuild_highlights",
    "render_bokeh",
    "render_single",
]

ProgressFn = Callable[[int, int], None]
Tiling = Literal["auto", "tiled", "whole"]
TILINGS = ("auto", "tiled", "whole")


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
    # full-resolution layers: "tiled" (on the tiles they touch, overlap-add), "whole" (on their whole crop),
    # "auto" = tiled on the CPU, whole on a GPU (where one large FFT beats many small launches)
    tiling: Tiling = "auto"

    def __post_init__(self) -> None:
        if self.tiling not in TILINGS:
            raise ValueError(f"tiling must be one of {', '.join(TILINGS)}, not {self.tiling!r}")

    def tiles_on(self, device: torch.device) -> bool:
        """Whether full-resolution layers are tiled on ``device``."""
        return device.type == "cpu" if self.tiling == "auto" else self.tiling == "tiled"


@dataclass
class BokehResult:
    image: torch.Tensor  # [B,H,W,3] sRGB 0..1
    coc_px: torch.Tensor  # [B,H,W] signed CoC diameter in pixels (+ behind focus)
    in_focus: torch.Tensor  # [B,H,W] 0..1, 1 = within the acceptable circle of confusion
    focus_distance_m: list[float] = field(default_factory=list)


def _unmixed_source_weight(radius: torch.Tensor, settings: RenderSettings) -> torch.Tensor:
    """``[H,W]``: 0 for pixels just behind a depth edge (a nearer surface within a few px), else 1.

    Such pixels mix the subject's colour (hair, anti-aliased edges) with the background's; scattered
    with the background's large blur they would draw a ghost of the subject around it. Left out,
    the hole they leave is filled from the clean background around them.
    """
    H, W = radius.shape
    k = max(1, round(settings.edge_exclusion_fraction * max(H, W)))
    out = torch.empty_like(radius)
    for y0, y1, nearest in min_filter_chunks(radius, k):
        r = radius[y0:y1]
        # radius - nearest <= 2·(gap_px + ratio·|radius|)
        gap2 = r.abs().mul_(2 * settings.occlusion_gap_ratio).add_(2 * settings.occlusion_gap_px)
        out[y0:y1] = torch.le(nearest.neg().add_(r), gap2)
    return out


def _nearer_wins(radius: torch.Tensor) -> torch.Tensor:
    """Signed radius ``[H,W]`` with depth-edge pixels joined to the nearer surface where it is the sharper one
    (``edges.sharper_wins``): a blurred foreground does not take the sharp background's outline pixels."""
    return sharper_wins(radius)


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
    """Aperture kernels ``[k,k]`` for ``(radius, edge)`` keys, built on the host and moved to ``device`` in one
    copy (before the layer loop, so that the loop itself never waits for a transfer)."""
    ordered = sorted(keys)
    host = [aperture.kernel(rho, edge, dtype=dtype) for rho, edge in ordered]
    if device.type == "cpu" or not host:
        return dict(zip(ordered, host))
    flat = torch.cat([kernel.reshape(-1) for kernel in host]).to(device)
    out, at = {}, 0
    for key, kernel in zip(ordered, host):
        out[key] = flat[at : at + kernel.numel()].view(kernel.shape)
        at += kernel.numel()
    return out


def render_single(
    lin: torch.Tensor,
    radius: torch.Tensor,
    aperture: Aperture,
    settings: RenderSettings,
    progress: Progress = Progress(),
    character: Optional[CharacterModel] = None,
) -> torch.Tensor:
    """Render one linear image ``lin [C,H,W]`` with signed CoC radius map ``radius [H,W]`` (px).

    Returns linear ``[C,H,W]``: usually C = 3 (RGB); any C planes are rendered alike, each as RGB is (a
    person's premultiplied colour and her alpha in one pass), except with a ``character``, whose kernels
    are per RGB plane (C = 3 only). The caller handles sRGB, highlights and batching. ``character``: a lens
    character's kernels (per layer, colour plane and field zone) instead of the ideal aperture's.
    ``progress`` counts layers (a tick once they are assigned, then one per layer, within the layers
    rendered in tiles); Cancel is honoured before each layer and within tiled ones.
    """
    _, H, W = lin.shape
    dev, dt = lin.device, lin.dtype
    max_r = float(radius.abs().max())
    radii = layer_radii(max_r, settings.layer_step_px, settings.layer_growth)
    assign = LayerAssignment(radius, radii)
    source = _unmixed_source_weight(radius, settings)
    radii_host = radii.tolist()  # read once: the layer loop then never waits for the device
    order = sorted(assign.used(), key=lambda i: -radii_host[i])  # far (most positive) to near
    progress.advance(0, max(len(order), 1))  # layers assigned: a tick before the first (largest) layer
    plans = {k: _layer_plan(k, radii_host, settings) for k in order}  # layer -> (scale, kernel key)
    kernels = _build_kernels({key for _s, key in plans.values()}, aperture, dt, dev) if character is None else {}
    zone_edges = None if character is None else character.zone_edges()
    # what has been laid down: premultiplied RGB, coverage, RADIUS_SUM; far layers are laid down at the scale
    # of their blur (one upsampling when a finer layer comes), so full-size buffers are touched only near focus
    acc_scale = scale_for_radius(radii_host[order[0]], settings.base_radius_px) if order else 1
    n_planes = lin.shape[0] + 2  # colour planes, coverage, RADIUS_SUM
    acc = torch.zeros(n_planes, -(-H // acc_scale), -(-W // acc_scale), dtype=dt, device=dev)
    tiled: Optional[tuple[Tiles, TileWork]] = None  # the tile grid and buffers of full-resolution layers
    if settings.tiles_on(dev):
        work = TileWork.reaching([assign.bbox(k) for k in order if plans[k][0] == 1], H, W, dt, dev, n_planes)
        tiled = None if work is None else (Tiles(assign, H, W), work)
    filled_for_foreground = False

    def refine(to_scale: int) -> None:
        """Upsample the accumulator to ``to_scale`` (if coarser)."""
        nonlocal acc, acc_scale
        if to_scale < acc_scale:
            f = acc_scale // to_scale
            acc = F.interpolate(acc.unsqueeze(0), scale_factor=f, mode="bilinear", align_corners=False)[0]
            acc = acc[:, : -(-H // to_scale), : -(-W // to_scale)]  # a view: no second full-size copy
            acc_scale = to_scale

    for step, k in enumerate(order):
        progress.check()
        rk = radii_host[k]
        if rk < -1.0 and not filled_for_foreground:
            refine(1)
            fill_behind_foreground(acc, assign, k, radius, max_r)
            filled_for_foreground = True
        box = assign.bbox(k)
        if box is None:
            continue
        s, key = plans[k]
        refine(s)
        kernel = kernels[key] if character is None else character.layer_kernels(rk, s, key[1], dt).to(dev)
        if s == 1 and tiled is not None:
            # a near-focus layer can take seconds at 8K: progress and Cancel within it
            layer = progress.span(step, step + 1, len(order))
            scatter_tiled(acc, *tiled, lin, assign, source, k, kernel, rk, settings, layer, zone_edges)
        else:
            scatter_on_crop(acc, acc_scale, lin, assign, source, k, box, s, kernel, rk, settings, zone_edges)
        progress.advance(step + 1, len(order))

    refine(1)
    fill_uncovered(acc)
    return acc[RGB].div_(acc[COVERAGE : COVERAGE + 1].clamp_min(1e-6))  # normalised in place: no full-size copy


def _in_focus_weight(coc: torch.Tensor, acceptable_px: float, out: torch.Tensor) -> None:
    """``out [H,W]`` = 1 within the acceptable CoC diameter (px), falling to 0 at twice it."""
    chunks = row_chunks(*coc.shape) if coc.device.type == "cpu" else [(0, coc.shape[0])]
    for y0, y1 in chunks:
        out[y0:y1] = coc[y0:y1].abs().mul_(-1.0 / acceptable_px).add_(2.0).clamp_(0.0, 1.0)


def render_bokeh(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lens: ThinLens | list[ThinLens],
    aperture: Aperture = Aperture(),
    highlights: HighlightRebuild = HighlightRebuild(),
    settings: RenderSettings | None = None,
    progress: Progress | ProgressFn | None = None,
    check_interrupt: Optional[Callable[[], None]] = None,
    character: Optional[LensCharacter] = None,
    full_frame: Optional[tuple[int, int, int]] = None,
    layer_alpha: Optional[torch.Tensor] = None,
) -> BokehResult:
    """Render lens bokeh for a batch.

    image: ``[B,H,W,3]`` sRGB 0..1. depth_m: ``[B,H,W]`` metres (already cleaned and at image size).
    lens: one ThinLens for all images or one per image (auto focus may differ per image).
    character: the lens's character (``character``); None renders the ideal thin lens. full_frame:
    (height, width, first row) of the whole frame when this is a band of it (field positions are the frame's).
    layer_alpha: ``[B,H,W]`` 0..1, the soft alpha of people standing in front of everything else in the
    frame (from a portrait prior); they are then rendered as a layer of their own (``two_layer``), and
    what clips on them is not rebuilt as a light (``rebuild_highlights``).
    progress: a :class:`Progress` (each image a share of it: 4 % set-up, then its layers), or a
    ``(done, total)`` callback with ``check_interrupt()`` (raises to cancel) beside it.
    Returns the rendered batch, signed CoC diameters (px) and an in-focus mask.
    """
    settings = settings or RenderSettings()
    b, H, W, c = image.shape
    bar = Progress.of(progress, check_interrupt, total=b * 1000)
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

        # the first 4 % of each image's share of the bar (of 1000): the full-frame passes before the layers
        image_bar = bar.span(i, i + 1, b)
        setup_tick = image_bar.on_step(1000)
        setup_tick(0)  # the circles of confusion are known
        radius = _nearer_wins(coc).mul_(0.5)
        setup_tick(10)
        lin = srgb_to_linear_planes(image[i])
        setup_tick(20)
        alpha = None if layer_alpha is None else layer_alpha[i].to(lin)
        lin = rebuild_highlights(lin, radius, highlights, image[i].amax(dim=-1), people=alpha)
        setup_tick(30)
        layers = image_bar.span(40, 1000, 1000)

        model = None
        if character is not None:
            fh, fw, fy0 = full_frame or (H, W, 0)
            model = CharacterModel(character, aperture, ln, Frame(fh, fw, ppm, fy0))
        if alpha is not None and has_layer(alpha):
            passes = [0]

            # the ideal lens renders the person's light and coverage in one pass; a character's kernels are per
            # RGB plane, so there each is a pass of its own
            n_passes = 2 if character is None else 3

            def render_pass(img, r, _box, _layers=layers, _n=n_passes):
                k = passes[0]
                passes[0] += 1
                return render_single(img, r, aperture, settings, _layers.span(k, k + 1, _n), model)

            rendered = render_two_layers(
                lin, coc.mul(0.5), alpha, render_pass, _nearer_wins, crop=character is None, fused=character is None
            )
        else:
            rendered = render_single(lin, radius, aperture, settings, layers, model)
        linear_planes_to_srgb_image(rendered, out[i])
        if character is not None and character.grain:
            regrain(out[i], image[i], radius, masks[i], seed=i)
    return BokehResult(out, cocs, masks, [ln.focus_distance_m for ln in lenses])
