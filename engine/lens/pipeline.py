"""From node inputs to a rendered batch: broadcasting, depth clean-up, auto focus, device, tiling.

This is what LensBokeh does, without ComfyUI: image ``[B,H,W,3]`` sRGB 0..1, depth ``[B,h,w]``
metres (any size; resampled edge-aware), optional focus mask ``[B,H,W]`` 0..1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F

from ..core.batch import common_batch
from ..core.camera import DEFAULT_F_NUMBER, DEFAULT_FOCAL_LENGTH_MM
from ..core.chunks import row_chunks
from ..core.finite import finite_pixels
from ..core.progress import Progress
from ..core.threads import fair_threads
from ..depth.depth_map import clean_depth
from ..depth.resample import resize_depth_edge_aware
from .aperture import Aperture
from .character import LensCharacter
from .focus import auto_focus_distance
from .optics import DEFAULT_SENSOR, ThinLens
from .renderer import BokehResult, HighlightRebuild, RenderSettings, render_bokeh
from .two_layer import mixed

PROGRESS_SCALE = 100_000  # steps of the bar when a (done, total) callback is given
PREP_SHARE = 0.03  # the share of the bar the pipeline's own steps take, before the renderer's


@dataclass
class LensResult:
    """A rendered batch: image ``[B,H,W,3]`` sRGB 0..1, signed CoC diameter ``[B,H,W]`` in pixels
    (+ behind the focus plane), in-focus mask ``[B,H,W]`` 0..1, and per image the focus distance in
    metres and how it was chosen (``manual``, ``focus mask``, ``eyes``, ``nearest central region``)."""

    image: torch.Tensor
    coc_px: torch.Tensor
    in_focus: torch.Tensor
    focus_distance_m: list[float]
    focus_how: list[str]


@dataclass(frozen=True)
class LensSettings:
    focal_length_mm: float = DEFAULT_FOCAL_LENGTH_MM
    f_number: float = DEFAULT_F_NUMBER
    focus_distance_m: float = 0.0  # 0 = auto
    sensor: str = DEFAULT_SENSOR


def broadcast_batch(name: str, t: torch.Tensor, b: int) -> torch.Tensor:
    """Repeat a batch of 1 to ``b`` (sizes checked first with :func:`engine.core.batch.common_batch`)."""
    if t.shape[0] == b:
        return t
    if t.shape[0] == 1:
        return t.expand(b, *t.shape[1:])
    raise ValueError(f"{name} has a batch of {t.shape[0]}, expected {b} or 1")


def prepare_depth(image: torch.Tensor, depth_m: torch.Tensor) -> torch.Tensor:
    """Clean depth (NaN/inf/≤0 replaced, with a warning) and bring it to the image's batch and size."""
    b, H, W, _ = image.shape
    depth_m = clean_depth(depth_m)
    if depth_m.shape[0] not in (1, b) and b != 1:
        raise ValueError(
            f"depth has batch size {depth_m.shape[0]} but the image batch has {b}; "
            "use equal batch sizes or a single depth map"
        )
    if depth_m.shape[1:] != (H, W):
        guide = image if image.shape[0] == depth_m.shape[0] else image[:1].expand(depth_m.shape[0], -1, -1, -1)
        depth_m = resize_depth_edge_aware(depth_m, guide)
    return depth_m


def estimated_bytes(h: int, w: int) -> int:
    """Rough peak working memory of rendering one ``h×w`` image (float32 buffers and FFT temporaries)."""
    return h * w * 4 * 40


def render_lens_bokeh(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lens: LensSettings,
    aperture: Aperture = Aperture(),
    highlights: HighlightRebuild = HighlightRebuild(),
    focus_mask: Optional[torch.Tensor] = None,
    depth_meta: Optional[dict[str, Any]] = None,
    device: Optional[torch.device] = None,
    settings: Optional[RenderSettings] = None,
    progress: Progress | Callable[[int, int], None] | None = None,
    check_interrupt: Optional[Callable[[], None]] = None,
    max_tile_pixels: Optional[int] = None,
    character: Optional[LensCharacter] = None,
    layer_alpha: Optional[torch.Tensor] = None,
) -> LensResult:
    """Render a batch; returns tensors on the image's original device.

    ``layer_alpha``: ``[B,h,w]`` 0..1, the soft alpha of people who stand in front of everything else
    (a portrait prior's ``DepthMap.layer_alpha``; any size, resampled); they are rendered as a layer of
    their own over the background, so hair stays sharp over a blurred background (``two_layer``).

    ``character``: the lens's character (cat's eye, swirl, fringes, spherical aberration, anamorphic squeeze,
    grain: ``character``, usually from a ``profiles`` entry); None renders the ideal thin lens.

    ``progress``: a :class:`Progress` (the nodes give ComfyUI's bar and Cancel), or a ``(done, total)``
    callback with ``check_interrupt()`` (raises to cancel) beside it. The first 3 % of the bar tick
    through the pipeline's own steps (depth clean-up and resampling, auto focus per image), the rest
    follows the renderer; every tick of the first part is a point where Cancel is honoured.

    ``max_tile_pixels`` caps the pixels rendered at once (bands with overlap); when None, the cap
    follows the free memory of ``device``, and an out-of-memory error retries in smaller bands.
    """
    if image.dim() != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image must be [B,H,W,3] or [B,H,W,4], got shape {tuple(image.shape)}")
    if depth_m.dim() == 2:
        depth_m = depth_m.unsqueeze(0)
    if focus_mask is not None and focus_mask.dim() == 2:
        focus_mask = focus_mask.unsqueeze(0)
    b = common_batch(
        image=image.shape[0],
        depth=depth_m.shape[0],
        focus_mask=None if focus_mask is None else focus_mask.shape[0],
    )
    bar = Progress.of(progress, check_interrupt, total=PROGRESS_SCALE)
    prep_steps = 2 + b
    prep, render = bar.span(0, PREP_SHARE), bar.span(PREP_SHARE, 1)
    done = 0

    def step() -> None:
        nonlocal done
        prep.check()
        prep.advance(min(done, prep_steps), prep_steps)
        done += 1

    step()
    image = finite_pixels(broadcast_batch("image", image, b), "image")
    alpha = image[..., 3:] if image.shape[-1] == 4 else None
    image = image[..., :3]
    depth_m = broadcast_batch("depth", prepare_depth(image, depth_m), b)
    step()
    _, H, W, _ = image.shape
    if layer_alpha is not None:
        layer_alpha = _alpha_for(layer_alpha, b, H, W)
    if focus_mask is not None:
        focus_mask = finite_pixels(broadcast_batch("focus_mask", focus_mask, b), "focus_mask")
        if focus_mask.shape[1:] != (H, W):
            focus_mask = F.interpolate(
                focus_mask.unsqueeze(1).float(), size=(H, W), mode="bilinear", align_corners=False
            ).squeeze(1)

    lenses, how = [], []
    for i in range(b):
        s = lens.focus_distance_m
        if s <= 0:
            s, why = auto_focus_distance(
                depth_m[i], None if focus_mask is None else focus_mask[i], _meta_of(depth_meta, i), image=image[i]
            )
            how.append(why)
        else:
            how.append("manual")
        lenses.append(ThinLens(lens.focal_length_mm, lens.f_number, s, lens.sensor))
        step()

    render_depth, capped = cap_circles_of_confusion(depth_m, lenses, H, W)
    out_device = image.device
    device = device or image.device
    cap = max_tile_pixels or _tile_pixels_for(device, H, W)
    # on a CPU others share, as many threads as there are idle cores: torch's threads wait for each other at
    # every operation, and a busy machine makes that wait, not the work, the render's time
    with fair_threads(device):
        while True:
            try:
                result = _render_in_bands(
                    image.to(device),
                    render_depth.to(device),
                    lenses,
                    aperture,
                    highlights,
                    settings,
                    render,
                    cap,
                    character,
                    None if layer_alpha is None else layer_alpha.to(device),
                )
                break
            except torch.OutOfMemoryError:
                if cap <= 256 * 256:
                    raise
                cap //= 4
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    coc_px = result.coc_px
    if capped:  # report the lens's true circles of confusion, not the capped ones rendered
        coc_px = torch.stack([ln.coc_px(depth_m[i], H, W) for i, ln in enumerate(lenses)]).to(coc_px)
    rendered = keep_in_focus_pixels(
        image,
        result.image.to(out_device),
        coc_px.to(out_device),
        None if layer_alpha is None else mixed(layer_alpha.to(out_device)),
    )
    if alpha is not None:
        rendered = torch.cat([rendered, alpha.to(rendered)], dim=-1)
    return LensResult(
        rendered,
        coc_px.to(out_device),
        result.in_focus.to(out_device),
        list(result.focus_distance_m),
        how,
    )


# A disc whose radius is the frame's diagonal reaches every pixel of the frame from every pixel: any
# larger circle of confusion renders the same (a frame-wide blur). Capping there bounds the renderer's
# work and memory by the image size, whatever the lens.
FRAME_BLUR_DIAGONALS = 2.0  # cap on the CoC diameter, in frame diagonals
IN_FOCUS_COC_PX = 0.5  # a CoC below half a pixel leaves the pixel as it was


def _alpha_for(alpha: torch.Tensor, b: int, H: int, W: int) -> torch.Tensor:
    """A layer alpha ``[B,h,w]`` (or ``[h,w]``) brought to the image's batch and size, finite, 0..1."""
    if alpha.dim() == 2:
        alpha = alpha.unsqueeze(0)
    alpha = broadcast_batch("layer alpha", alpha.float(), b)
    if alpha.shape[1:] != (H, W):
        alpha = F.interpolate(alpha.unsqueeze(1), size=(H, W), mode="bilinear", align_corners=False).squeeze(1)
    return torch.nan_to_num(alpha, nan=0.0).clamp(0, 1)


def _meta_of(meta: Optional[dict[str, Any]], i: int) -> Optional[dict[str, Any]]:
    """DEPTH metadata of batch item ``i``: its ``per_image`` entry when the depth has one per image."""
    per = (meta or {}).get("per_image")
    if isinstance(per, list) and i < len(per) and isinstance(per[i], dict):
        return per[i]
    return meta


def coc_cap_px(H: int, W: int) -> float:
    """Largest CoC diameter (px) rendered for an ``H×W`` image: two frame diagonals."""
    return FRAME_BLUR_DIAGONALS * math.hypot(H, W)


def cap_circles_of_confusion(
    depth_m: torch.Tensor, lenses: list[ThinLens], H: int, W: int
) -> tuple[torch.Tensor, bool]:
    """Depth ``[B,H,W]`` whose circles of confusion, through each image's lens, are at most
    :func:`coc_cap_px` across; and whether any had to be capped (then a RuntimeWarning names the lens).

    CoC(Z) = K·(1/S − 1/Z) with K = A·v·(px per mm)/1000 (px·m), so capping |CoC| at c is clamping the
    disparity 1/Z to 1/S ± c/K: sign and order of depth are kept, the blur is frame-sized.
    """
    c = coc_cap_px(H, W)
    out, capped = [], False
    for i, ln in enumerate(lenses):
        d = depth_m[i]
        k = ln.aperture_mm * ln.image_distance_mm / 1000.0 * ln.pixels_per_mm(H, W)
        # |CoC| grows monotonically away from the focus plane: the nearest or the farthest depth is the worst
        ends = ln.coc_px(torch.stack(torch.aminmax(d)), H, W)  # signed: < 0 in front of the focus plane
        worst_end = float(ends[int(ends.abs().argmax())])
        worst = abs(worst_end)
        if worst <= c:
            out.append(d)
            continue
        capped = True
        s_inv = 1.0 / ln.focus_distance_m
        lo, hi = max(s_inv - c / k, 0.0), s_inv + c / k
        disp = (1.0 / d).clamp(min=lo, max=hi)
        out.append(1.0 / disp.clamp_min(1e-12))
        # the advice follows the side of the focus plane the worst blur is on
        towards = "nearer (on the nearest things)" if worst_end < 0 else "farther away"
        warnings.warn(
            f"circles of confusion up to {worst:,.0f} px (focal_length_mm {ln.focal_length_mm:g}, f_number "
            f"{ln.f_number:g}, focus_distance_m {ln.focus_distance_m:g}) are far larger than the {W}×{H} frame; "
            f"rendered as a frame-sized blur (CoC capped at {c:,.0f} px). Focus {towards}, or use a shorter "
            "focal length or a larger f_number, for a usable depth of field.",
            RuntimeWarning,
            stacklevel=3,
        )
    return torch.stack(out), capped


def keep_in_focus_pixels(
    image: torch.Tensor, rendered: torch.Tensor, coc_px: torch.Tensor, mixed: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """``rendered`` with the input pixel, bit for bit, wherever the CoC is under half a pixel, except where a
    nearer out-of-focus object's blur can reach (its light lies over the sharp plane, as in a lens) and
    where ``mixed`` (``[B,H,W]`` bool) marks pixels holding two layers (a strand over the background).

    image, rendered: ``[B,H,W,3]`` sRGB 0..1; coc_px: ``[B,H,W]`` signed diameter in pixels. ``rendered``
    is updated in place (row chunks on the CPU) and returned.
    """
    B, H, W = coc_px.shape
    for i in range(B):
        reach = _foreground_reach_single(coc_px[i])
        for y0, y1 in row_chunks(H, 3 * W) if coc_px.device.type == "cpu" else [(0, H)]:
            keep = coc_px[i, y0:y1].abs() < IN_FOCUS_COC_PX
            if reach is not None:
                keep &= ~reach[y0:y1]
            if mixed is not None:
                keep &= ~mixed[i, y0:y1]
            part = rendered[i, y0:y1]
            part.copy_(torch.where(keep.unsqueeze(-1), image[i, y0:y1].to(rendered.dtype), part))
    return rendered


def foreground_reach(coc_px: torch.Tensor) -> torch.Tensor:
    """``[B,H,W]`` bool: pixels within the blur radius of some pixel in front of the focus plane
    (CoC ≤ −½ px), by the largest such radius (a square neighbourhood: conservative)."""
    reach = torch.zeros_like(coc_px, dtype=torch.bool)
    for i in range(coc_px.shape[0]):
        r = _foreground_reach_single(coc_px[i])
        if r is not None:
            reach[i] = r
    return reach


def _foreground_reach_single(coc: torch.Tensor) -> Optional[torch.Tensor]:
    """:func:`foreground_reach` of one ``[H,W]`` map, or None where nothing lies in front of the focus plane.
    The dilation runs on the foreground's bounding box grown by the reach, not on the whole frame."""
    nearest = float(coc.min())
    if nearest > -IN_FOCUS_COC_PX:
        return None
    H, W = coc.shape
    fg = coc <= -IN_FOCUS_COC_PX
    rows = torch.nonzero(fg.any(1)).flatten()
    cols = torch.nonzero(fg.any(0)).flatten()
    r = min(int(math.ceil(-nearest / 2.0)) + 1, max(H, W))
    y0, y1 = max(0, int(rows[0]) - r), min(H, int(rows[-1]) + 1 + r)
    x0, x1 = max(0, int(cols[0]) - r), min(W, int(cols[-1]) + 1 + r)
    m = fg[y0:y1, x0:x1].to(torch.float32).view(1, 1, y1 - y0, x1 - x0)
    step = 1
    while r > 0:  # dilate by 1, 2, 4, ... (a square grown by a, then b, has grown by a + b)
        d = min(step, r)
        m = F.max_pool2d(F.pad(m, (d, d, d, d)), kernel_size=3, stride=1, dilation=d)
        r -= d
        step *= 2
    reach = torch.zeros_like(fg)
    reach[y0:y1, x0:x1] = m.view(y1 - y0, x1 - x0) > 0
    return reach


def _tile_pixels_for(device: torch.device, H: int, W: int) -> int:
    if device.type != "cuda":
        return H * W
    free, _total = torch.cuda.mem_get_info(device)
    per_px = estimated_bytes(1, 1)
    return max(256 * 256, min(H * W, int(free * 0.8 / per_px)))


def _render_in_bands(
    image,
    depth_m,
    lenses,
    aperture,
    highlights,
    settings,
    progress: Progress,
    cap,
    character=None,
    layer_alpha=None,
) -> BokehResult:
    b, H, W, _ = image.shape
    if H * W <= cap:
        return render_bokeh(
            image,
            depth_m,
            lenses,
            aperture,
            highlights,
            settings,
            progress,
            character=character,
            layer_alpha=layer_alpha,
        )
    # horizontal bands with an overlap that covers the largest blur, on a grid aligned to the coarsest scale
    out = torch.empty_like(image)
    coc = torch.empty(b, H, W, dtype=image.dtype, device=image.device)
    inf = torch.empty_like(coc)
    for i in range(b):
        max_r = float(lenses[i].coc_px(depth_m[i], H, W).abs().max()) * 0.5
        halo = int(math.ceil(max_r)) * 2 + 64
        halo = -(-halo // 64) * 64
        band = max(64, (cap // W) - 2 * halo) // 64 * 64
        if band <= 0:
            raise torch.OutOfMemoryError("image too large to render even in bands")
        y = 0
        while y < H:
            y1 = min(H, y + band)
            a0, a1 = max(0, y - halo), min(H, y1 + halo)
            part = render_bokeh(
                image[i : i + 1, a0:a1],
                depth_m[i : i + 1, a0:a1],
                [_band_lens(lenses[i], H, W)],
                aperture,
                highlights,
                settings,
                progress.silent(),
                None,
                character,
                (H, W, a0),
                None if layer_alpha is None else layer_alpha[i : i + 1, a0:a1],
            )
            out[i, y:y1] = part.image[0, y - a0 : y1 - a0]
            coc[i, y:y1] = part.coc_px[0, y - a0 : y1 - a0]
            inf[i, y:y1] = part.in_focus[0, y - a0 : y1 - a0]
            progress.advance(i * H + y1, b * H)
            y = y1
    return BokehResult(out, coc, inf, [ln.focus_distance_m for ln in lenses])


def _band_lens(lens: ThinLens, full_h: int, full_w: int) -> ThinLens:
    ppm = lens.pixels_per_mm(full_h, full_w)
    return _FixedPitchLens(lens.focal_length_mm, lens.f_number, lens.focus_distance_m, lens.sensor, ppm)


@dataclass(frozen=True)
class _FixedPitchLens(ThinLens):
    """A lens whose pixel pitch is that of the full image while it renders a band of it."""

    fixed_pixels_per_mm: float = 0.0

    def pixels_per_mm(self, height_px: int, width_px: int) -> float:
        return self.fixed_pixels_per_mm
