"""Fitting relative (affine-invariant) disparity to metres: from two anchors (subject and an assumed
background), or robustly from every anchor there is (each person's measured distance, the ground plane).

Disparity is 1/Z in 1/metres, ``[H,W]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..core.sampling import strided_sample


def calibrate_disparity(
    rel: torch.Tensor, subject: torch.Tensor, subject_distance_m: float, background_distance_m: float
) -> tuple[torch.Tensor, dict]:
    """Fit metric disparity = a·rel + b to relative disparity ``rel [H,W]`` (larger = nearer).

    Two anchors: the median of ``rel`` over ``subject`` (bool/0..1 mask ``[H,W]``) maps to
    1/subject_distance_m; the 5th percentile of ``rel`` outside the subject (the far background)
    maps to 1/background_distance_m. Returns depth in metres and the numbers used.
    """
    sub = subject > 0.5
    flat = rel.reshape(-1)
    sample = strided_sample(flat, 400_000)
    r_subject = float(rel[sub].median()) if bool(sub.any()) else float(torch.quantile(sample, 0.9))
    bg_vals = rel[~sub] if bool((~sub).any()) else flat
    bg_vals = strided_sample(bg_vals, 400_000)
    r_far = float(torch.quantile(bg_vals, 0.05))
    d_subject, d_far = 1.0 / subject_distance_m, 1.0 / background_distance_m
    if r_subject - r_far < 1e-6:
        a = 0.0
        b = d_subject
    else:
        a = (d_subject - d_far) / (r_subject - r_far)
        b = d_subject - a * r_subject
    disp = (a * rel + b).clamp_min(d_far * 0.25)
    return 1.0 / disp, {
        "fit": "disparity = a*relative + b",
        "a": a,
        "b": b,
        "subject_distance_m": subject_distance_m,
        "background_distance_m": background_distance_m,
        "relative_at_subject": r_subject,
        "relative_at_background_p5": r_far,
    }


@dataclass
class Anchor:
    """A place whose metric disparity is known: ``region`` ``[H,W]`` bool, ``disparity`` 1/m there (a
    number, or ``[H,W]`` per pixel), what it is (``name``) and how much it counts (``weight``)."""

    name: str
    region: torch.Tensor
    disparity: float | torch.Tensor
    weight: float = 1.0


SAMPLES_PER_ANCHOR = 24  # a per-pixel anchor (a ground plane) gives this many samples (rows of it)


def calibrate_with_anchors(
    rel: torch.Tensor, anchors: list[Anchor], fallback_far_m: float, subject: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, dict]:
    """Metric depth ``[H,W]`` from relative disparity ``rel [H,W]`` (larger = nearer) fitted as
    disparity = a·rel + b to every anchor, robustly (iteratively reweighted least squares, Huber):
    each person's measured distance (one sample: the median over her region), a ground plane's
    disparity (:data:`SAMPLES_PER_ANCHOR` samples spread over its rows). An affine fit needs two
    anchors of different relative disparity; with fewer, the far background (``rel``'s 5th percentile
    outside ``subject``) is put at ``fallback_far_m`` as the second, and the numbers say so.
    Returns the depth and what was used (anchors, residuals in 1/m)."""
    xs: list[float] = []
    ys: list[float] = []
    ws: list[float] = []
    names: list[str] = []
    used: list[str] = []
    for an in anchors:
        region = an.region.bool()
        if not bool(region.any()):
            continue
        r = rel[region]
        if isinstance(an.disparity, torch.Tensor):
            d = an.disparity[region]
            order = torch.argsort(d)
            for chunk_r, chunk_d in zip(r[order].chunk(SAMPLES_PER_ANCHOR), d[order].chunk(SAMPLES_PER_ANCHOR)):
                if chunk_r.numel():
                    xs.append(float(chunk_r.median()))
                    ys.append(float(chunk_d.median()))
                    ws.append(an.weight / SAMPLES_PER_ANCHOR)
                    names.append(an.name)
        else:
            xs.append(float(r.median()))
            ys.append(float(an.disparity))
            ws.append(an.weight)
            names.append(an.name)
        used.append(an.name)
    spread = (max(xs) - min(xs)) if xs else 0.0
    scale_rel = float(rel.max() - rel.min()) or 1.0
    if len(used) < 2 or spread < 0.02 * scale_rel:
        sub = subject.bool() if subject is not None else torch.zeros_like(rel, dtype=torch.bool)
        bg = rel[~sub] if bool((~sub).any()) else rel.reshape(-1)
        xs.append(float(torch.quantile(strided_sample(bg, 400_000), 0.05)))
        ys.append(1.0 / fallback_far_m)
        ws.append(1.0)
        names.append(f"far background (5th percentile) assumed at {fallback_far_m:g} m")
        used.append(names[-1])
    x = torch.tensor(xs, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64)
    w = torch.tensor(ws, dtype=torch.float64)
    A = torch.stack([x, torch.ones_like(x)], 1)
    hub = torch.ones_like(w)
    coef = torch.tensor([0.0, float(y.mean())], dtype=torch.float64)
    if float(x.max() - x.min()) > 1e-9:
        for _ in range(10):
            sw = (w * hub).sqrt()
            coef = torch.linalg.lstsq(A * sw[:, None], (y * sw)[:, None]).solution[:, 0]
            res = y - A @ coef
            k = max(1.345 * 1.4826 * float(res.abs().median()), 1e-3 * float(y.abs().max()))
            hub = torch.where(res.abs() <= k, torch.ones_like(res), k / res.abs())
    a, b = float(coef[0]), float(coef[1])
    res = y - A @ coef
    floor = 0.25 / max(fallback_far_m, 1e-3) / 10
    disp = (a * rel + b).clamp_min(floor)
    residuals: dict[str, float] = {}
    for n, r_ in zip(names, res.tolist()):
        residuals[n] = max(residuals.get(n, 0.0), abs(r_))
    return 1.0 / disp, {
        "fit": "disparity = a*relative + b, robust fit to the anchors",
        "a": a,
        "b": b,
        "anchors": used,
        "largest_residual_per_anchor_1_per_m": {n: round(v, 4) for n, v in residuals.items()},
    }
