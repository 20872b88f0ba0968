"""Fitting relative (affine-invariant) disparity to metres from two anchors: subject and background.

Disparity is 1/Z in 1/metres, ``[H,W]``.
"""

from __future__ import annotations

import torch

from ..sampling import strided_sample


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
