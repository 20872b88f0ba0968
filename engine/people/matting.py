"""A soft alpha along hair and outlines: closed-form matting on a trimap made from the person matte.

The person matte (segmentation brought to the photo's edges) says roughly where the person ends; it
cannot say how much of a pixel a strand of hair covers. Matting does: a trimap marks what is surely
person (1), surely background (0) and a band between them, wider around heads, where alpha is
unknown; alpha there is the minimiser of Levin, Lischinski & Weiss's matting energy (2008), in which
alpha is locally an affine function of colour, so it follows the photo's own edges.

The energy's Laplacian is applied without building it: L·p ∝ p − G(p), where G is the colour guided
filter of p by the photo (He, Sun & Tang, "Fast matting using large kernel matting Laplacian matrices",
2010), so each conjugate-gradient step costs a few box filters whatever the window. Large frames are
solved at about ``SOLVE_PIXELS`` and the alpha is brought back to full size by a guided filter.

Image ``[H,W,3]`` sRGB 0..1; matte and alpha ``[H,W]`` 0..1 (1 = person); boxes in pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F

from ..core.box_filter import box_mean
from ..core.fill import push_pull_fill
from ..core.guided_filter import guided_filter
from ..core.progress import Progress

BAND = 0.01  # half-width of the unknown band, × the long side (at least 2 px)
HAIR_REACH = 0.3  # around a head the band reaches this many face heights out of the matte (loose hair)
HEAD_REACH = 1.6  # heads: a circle of this many face heights around the face, raised by half a face height
WINDOW = 2  # matting window radius at the solving resolution (px)
EPS = 1e-5  # regularisation of the colour-line model (sRGB² units)
KNOWN_WEIGHT = 100.0  # how hard known pixels hold their trimap value
COLOUR_WEIGHT = 0.1  # how hard unknown pixels are pulled to the alpha their colour says (× confidence)
COLOUR_SIGMA = 0.05  # sRGB distance at which a pixel stops looking like a mix of the two colours
COLOUR_CONTRAST = 0.01  # squared sRGB distance of person and background at which confidence is ½
ITERATIONS = 20  # conjugate-gradient steps (started from the person matte)
SOLVE_PIXELS = 1_000_000  # frames larger than this are solved downscaled


def trimap(
    matte: torch.Tensor,
    heads: Sequence[tuple[float, float, float, float]] = (),
    band: float = BAND,
    reach: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Trimap ``[H,W]`` of a person ``matte [H,W]``: 1 surely person, 0 surely background, 0.5 unknown.

    Only around heads (face boxes ``(x0, y0, x1, y1)`` in pixels, :func:`head_mask`), where hair is, is
    anything unknown: pixels within ``band`` × the long side inside the matte's 0.5 edge and up to
    ``HAIR_REACH`` face heights outside it, where ``reach`` (``[H,W]`` bool, where the segmentation
    gives the person any chance; None = everywhere) allows. Elsewhere the matte's outline is kept (its
    0.5 edge): there a soft edge would only let the background through a solid body or a dark object
    she holds, and hair-coloured things beside a head (a lamp, a frame) would join her."""
    H, W = matte.shape
    w = max(2, round(band * max(H, W)))
    face = max((max(y1 - y0, x1 - x0) for x0, y0, x1, y1 in heads), default=0.0)
    wide = max(w + 1, round(HAIR_REACH * face))
    inside = (matte > 0.5).to(torch.float32)[None, None]
    outside = 1.0 - inside

    def eroded(m: torch.Tensor, r: int) -> torch.Tensor:
        return box_mean(m, r)[0, 0] > 1.0 - 1e-4

    head = head_mask(heads, H, W, matte.device)
    sure_in = eroded(inside, w) | ~head & (inside[0, 0] > 0)
    sure_out = eroded(outside, wide) | ~head & (outside[0, 0] > 0)
    if reach is not None:
        sure_out |= eroded(outside, w) & ~reach
    out = torch.full((H, W), 0.5, device=matte.device)
    out[sure_in] = 1.0
    out[sure_out] = 0.0
    return out


def head_mask(heads: Sequence[tuple[float, float, float, float]], H: int, W: int, device) -> torch.Tensor:
    """``[H,W]`` bool: around each face box, where hair may be (see ``HEAD_REACH``)."""
    out = torch.zeros(H, W, dtype=torch.bool, device=device)
    if not heads:
        return out
    ys = torch.arange(H, device=device, dtype=torch.float32)[:, None]
    xs = torch.arange(W, device=device, dtype=torch.float32)[None, :]
    for x0, y0, x1, y1 in heads:
        fh = max(y1 - y0, x1 - x0, 1.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.5 * fh
        out |= (xs - cx) ** 2 + (ys - cy) ** 2 <= (HEAD_REACH * fh) ** 2
    return out


class _MattingLaplacian:
    """p ↦ L·p / |ω| for Levin's matting Laplacian L of a guide ``[3,H,W]`` (windows of radius r wholly
    inside the frame, so L is symmetric positive semi-definite, as conjugate gradients need):
    (L·p)_i = Σ_{windows k ∋ i} (p_i − a_k·I_i − b_k), a_k, b_k the guided filter's window coefficients.
    Window sums are running sums in float64: eps is far below a float32 running sum's round-off."""

    def __init__(self, guide: torch.Tensor, r: int, eps: float):
        self.guide, self.r, self.n = guide, r, (2 * r + 1) ** 2
        g = guide.double()
        mean = self._window_mean(g)  # [3,h,w]: one value per window wholly inside the frame
        pairs = torch.stack([g[i] * g[j] for i in range(3) for j in range(3)])
        cov = self._window_mean(pairs).view(3, 3, *mean.shape[1:]) - mean[:, None] * mean[None, :]
        cov = cov.permute(2, 3, 0, 1) + eps * torch.eye(3, dtype=g.dtype, device=g.device)
        self.inv = torch.linalg.inv(cov).permute(2, 3, 0, 1).to(guide.dtype).contiguous()  # [3,3,h,w]
        self.mean = mean.to(guide.dtype)
        self.windows = self._window_sum(torch.ones_like(self.mean[:1]))[0]  # how many windows hold each pixel

    def _window_mean(self, x: torch.Tensor) -> torch.Tensor:
        """``[C,h,w]``: the mean of ``x [C,H,W]`` over each window wholly inside it (running sums in
        float64, whose round-off stays far below eps)."""
        k = 2 * self.r + 1
        c = F.pad(torch.cumsum(x.double(), dim=1), (0, 0, 1, 0))
        c = F.pad(torch.cumsum(c[:, k:] - c[:, :-k], dim=2), (1, 0))
        return ((c[:, :, k:] - c[:, :, :-k]) / (k * k)).to(x.dtype)

    def _window_sum(self, per_window: torch.Tensor) -> torch.Tensor:
        """``[C,H,W]``: per pixel, the sum of ``per_window [C,h,w]`` over the windows that hold it."""
        r = self.r
        return self._window_mean(F.pad(per_window, (2 * r, 2 * r, 2 * r, 2 * r))) * self.n

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        g = self.guide
        m = self._window_mean(torch.cat([p[None], g * p[None]]))  # per window: mean p, mean I·p
        cross = m[1:] - self.mean * m[:1]  # [3,h,w]
        a = (self.inv * cross[None]).sum(1)  # [3,h,w]
        b = m[0] - (a * self.mean).sum(0)
        ab = self._window_sum(torch.cat([a, b[None]]))
        return (self.windows * p - (ab[:3] * g).sum(0) - ab[3]) / self.n


@torch.no_grad()
def solve_alpha(
    image: torch.Tensor,
    tri: torch.Tensor,
    start: torch.Tensor,
    iterations: int = ITERATIONS,
    window: int = WINDOW,
    eps: float = EPS,
    progress: Progress = Progress(),
) -> torch.Tensor:
    """Alpha ``[H,W]`` minimising the matting energy with the known pixels of ``tri`` (0/1) held, by
    conjugate gradients from ``start [H,W]``. Only the box around the unknown band is solved.

    Texture lets the colour-line model explain a smoothly varying alpha in a textured background almost
    for free, so an unknown pixel is also pulled towards the alpha its colour gives between the person's
    and the background's colour around it (:func:`colour_alpha`), by how well that mix explains it (the
    data term of Wang & Cohen's robust matting, 2007)."""
    H, W = tri.shape
    unknown = tri == 0.5
    alpha = torch.where(unknown, start, tri).clamp(0, 1).to(torch.float32)
    if not bool(unknown.any()):
        return alpha
    rows = torch.nonzero(unknown.any(1)).flatten()
    cols = torch.nonzero(unknown.any(0)).flatten()
    m = 4 * window + 2
    y0, y1 = max(0, int(rows[0]) - m), min(H, int(rows[-1]) + 1 + m)
    x0, x1 = max(0, int(cols[0]) - m), min(W, int(cols[-1]) + 1 + m)
    guide = image[y0:y1, x0:x1].permute(2, 0, 1).to(torch.float32)
    t = tri[y0:y1, x0:x1]
    known = (t != 0.5).to(torch.float32) * KNOWN_WEIGHT
    by_colour, confidence = colour_alpha(guide, t)
    pull = known + (t == 0.5).to(torch.float32) * COLOUR_WEIGHT * confidence
    target = torch.where(t == 0.5, by_colour, t)
    laplacian = _MattingLaplacian(guide, window, eps)

    def system(p: torch.Tensor) -> torch.Tensor:
        return laplacian(p) + pull * p

    x = alpha[y0:y1, x0:x1].clone()
    res = pull * target - system(x)
    d = res.clone()
    rr = float((res * res).sum())
    for _ in range(iterations):
        progress.check()
        q = system(d)
        dq = float((d * q).sum())
        if dq <= 0 or rr < 1e-10:
            break
        step = rr / dq
        x += step * d
        res -= step * q
        new = float((res * res).sum())
        d = res + (new / rr) * d
        rr = new
    alpha[y0:y1, x0:x1] = torch.where(t == 0.5, x.clamp(0, 1), t)  # what is known stays exactly so
    return alpha


def colour_alpha(guide: torch.Tensor, tri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel of ``guide [3,H,W]``: the alpha ``[H,W]`` that mixes the person's colour and the
    background's colour around it (each filled in from the trimap's sure pixels) closest to its own, and
    a confidence ``[H,W]`` 0..1 (high where that mix explains the colour and the two colours differ)."""
    person = push_pull_fill(guide, (tri == 1.0).to(guide.dtype))
    behind = push_pull_fill(guide, (tri == 0.0).to(guide.dtype))
    d = person - behind
    contrast = (d * d).sum(0)
    a = (((guide - behind) * d).sum(0) / (contrast + 1e-6)).clamp(0, 1)
    miss = guide - (behind + a * d)
    fit = torch.exp(-(miss * miss).sum(0) / COLOUR_SIGMA**2)
    return a, fit * contrast / (contrast + COLOUR_CONTRAST)


@torch.no_grad()
def matte_to_alpha(
    image: torch.Tensor,
    matte: torch.Tensor,
    heads: Sequence[tuple[float, float, float, float]] = (),
    reach: Optional[torch.Tensor] = None,
    progress: Progress = Progress(),
) -> torch.Tensor:
    """The soft alpha ``[H,W]`` of the people in ``image [H,W,3]`` from their ``matte [H,W]`` and face
    boxes: matted around the heads (:func:`trimap`; ``reach`` as there), the matte itself elsewhere.

    Each head is solved on its own box (a group photo's heads do not make one frame-sized problem).
    Frames above ``SOLVE_PIXELS`` are solved downscaled; the alpha is then upsampled and its edges put
    back on the full-resolution photo by a guided filter (known pixels keep their values)."""
    H, W, _ = image.shape
    tri = trimap(matte, heads, reach=reach)
    if not bool((tri == 0.5).any()):
        return matte
    scale = min(1.0, math.sqrt(SOLVE_PIXELS / (H * W)))
    h, w = (H, W) if scale >= 1.0 else (max(8, round(H * scale)), max(8, round(W * scale)))
    if scale < 1.0:
        small_image = F.interpolate(image.permute(2, 0, 1)[None], size=(h, w), mode="area")[0].permute(1, 2, 0)
        small_tri = F.interpolate(tri[None, None], size=(h, w), mode="area")[0, 0]
        small_tri = torch.where(small_tri >= 1.0 - 1e-4, 1.0, torch.where(small_tri <= 1e-4, 0.0, 0.5))
        small_matte = F.interpolate(matte[None, None], size=(h, w), mode="area")[0, 0]
    else:
        small_image, small_tri, small_matte = image, tri, matte
    sx, sy = w / W, h / H
    alpha = small_matte.clone()
    for x0, y0, x1, y1 in heads:
        one = head_mask([(x0 * sx, y0 * sy, x1 * sx, y1 * sy)], h, w, matte.device)
        # this head's unknown pixels; all else held at what is known so far (heads may overlap)
        held = torch.where(small_tri == 0.5, (alpha > 0.5).to(alpha.dtype), small_tri)
        alpha = torch.where(
            one,
            solve_alpha(small_image, torch.where(one, small_tri, held), alpha, progress=progress),
            alpha,
        )
    head = head_mask(heads, H, W, matte.device)
    if scale >= 1.0:
        return torch.where(head, alpha, matte)
    # back to full size on the unknown band's box only (a guided filter of the whole frame at 8K would
    # take gigabytes for pixels that are known anyway)
    out = torch.where(head, tri, matte)
    r = max(2, round(1.0 / scale))
    unknown = tri == 0.5
    rows = torch.nonzero(unknown.any(1)).flatten()
    cols = torch.nonzero(unknown.any(0)).flatten()
    m = 4 * r + 2
    y0, y1 = max(0, int(rows[0]) - m), min(H, int(rows[-1]) + 1 + m)
    x0, x1 = max(0, int(cols[0]) - m), min(W, int(cols[-1]) + 1 + m)
    box = (
        round(y0 * sy),
        max(round(y0 * sy) + 1, round(y1 * sy)),
        round(x0 * sx),
        max(round(x0 * sx) + 1, round(x1 * sx)),
    )
    part = alpha[box[0] : box[1], box[2] : box[3]]
    up = F.interpolate(part[None, None], size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False)
    guide = image[y0:y1, x0:x1].permute(2, 0, 1)[None].to(up.dtype)
    sharp = guided_filter(guide, up, r, 1e-4, subsample=max(1, r // 2))[0, 0].clamp(0, 1)
    region = out[y0:y1, x0:x1]
    region.copy_(torch.where(unknown[y0:y1, x0:x1] & head[y0:y1, x0:x1], sharp, region))
    return out
