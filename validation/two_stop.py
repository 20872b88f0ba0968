"""Brute-force two-stop reference for optical vignetting (cat's eye): rays traced through the aperture and the
lens barrel's opening, independently of the renderer's kernels.

A point at distance Z (mm) whose chief ray meets the sensor at ``field_mm`` (x right, y down, from the sensor
centre) sends rays to every point q of the aperture (a disc of radius ``f/2N`` at the thin lens). A ray
passes when it also clears the barrel's opening (radius b, a distance L in front of the lens), which it crosses
at ``q + (P − q)·L/Z``. The thin lens bends each ray toward the point's image, at ``v_Z = f·Z/(Z − f)``
behind the lens; it lands on the sensor (at v) at ``q + (P' − q)·v/v_Z``. The landing points are the disc.
"""

from __future__ import annotations

import math

import torch

from ..engine.lens.character import LensCharacter
from ..engine.lens.optics import ThinLens


def two_stop_landings(
    lens: ThinLens,
    character: LensCharacter,
    field_mm: tuple[float, float],
    depth_mm: float,
    px_per_mm: float,
    samples: int = 801,
) -> torch.Tensor:
    """``[n,2]`` landing points (px, x right, y down) of the rays that clear both stops, relative to the chief
    ray's landing point; ``samples`` pupil points across the aperture's diameter (a uniform square grid)."""
    f = lens.focal_length_mm
    a = f / (2 * lens.f_number)
    b = character.barrel_radius * f / (2 * character.max_aperture)
    L = character.barrel_distance * f
    v = lens.image_distance_mm
    Z = depth_mm
    v_z = f * Z / (Z - f)
    g = torch.linspace(-a, a, samples, dtype=torch.float64)
    qy, qx = torch.meshgrid(g, g, indexing="ij")
    keep = qx * qx + qy * qy <= a * a
    qx, qy = qx[keep], qy[keep]
    # the object point whose chief ray (through the lens centre) lands at field_mm
    px, py = -field_mm[0] * Z / v, -field_mm[1] * Z / v
    if b > 0 and L > 0:
        bx, by = qx + (px - qx) * L / Z, qy + (py - qy) * L / Z
        clear = bx * bx + by * by <= b * b
        qx, qy = qx[clear], qy[clear]
    ix, iy = -px * v_z / Z, -py * v_z / Z  # the point's image
    lx, ly = qx + (ix - qx) * v / v_z, qy + (iy - qy) * v / v_z
    cx, cy = ix * v / v_z, iy * v / v_z  # the chief ray's landing point
    return torch.stack([(lx - cx) * px_per_mm, (ly - cy) * px_per_mm], dim=1)


def moments_shape(points: torch.Tensor, weights: torch.Tensor | None = None) -> tuple[float, float, float]:
    """(aspect = short / long axis, short axis angle in radians (x right, y down), long axis std in px) of a
    point set ``[n,2]`` (optionally weighted) from its second moments."""
    w = torch.ones(points.shape[0], dtype=points.dtype) if weights is None else weights.to(points.dtype)
    w = w / w.sum()
    mean = (points * w[:, None]).sum(0)
    d = points - mean
    cov = (d * w[:, None]).T @ d
    evals, evecs = torch.linalg.eigh(cov)
    short = evecs[:, 0]
    return (
        math.sqrt(max(float(evals[0]), 0.0) / float(evals[1])),
        math.atan2(float(short[1]), float(short[0])),
        math.sqrt(float(evals[1])),
    )


def image_shape(image: torch.Tensor) -> tuple[float, float, float]:
    """:func:`moments_shape` of an intensity image ``[h,w]`` (pixel centres weighted by intensity)."""
    h, w = image.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return moments_shape(pts, image.reshape(-1).to(torch.float64).clamp_min(0))
