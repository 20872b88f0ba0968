"""Exact thin-lens reference: ray-traced scenes of textured planes, for validating the renderer.

A scene is a list of planes (fronto-parallel cards or slanted planes) with procedural linear-light
radiance (HDR: point lights far above 1.0) and alpha. ``render_reference`` integrates each pixel
over the aperture disc by tracing rays through a thin lens (the exact defocus image, occlusion
included); ``render_pinhole`` gives the all-in-focus image and its depth map, the input a depth
camera plus photo would give LensBokeh. Units: millimetres in the scene, pixels on the sensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch

from ..engine.core.colour import linear_to_srgb
from ..engine.lens.optics import ThinLens

# texture(x_mm, y_mm) on the plane -> (rgb [...,3] linear radiance, alpha [...])
Texture = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Plane:
    """A plane through ``point`` (mm, camera at origin looking down +z) with unit ``normal``.

    Texture coordinates are the world x and y of the hit point (mm), or what ``uv`` makes of the hit
    point ``[...,3]`` (mm): a floor's texture needs x and z.
    """

    point: tuple[float, float, float]
    normal: tuple[float, float, float]
    texture: Texture
    uv: Optional[Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = None


def card(z_m: float, texture: Texture) -> Plane:
    return Plane((0.0, 0.0, z_m * 1000.0), (0.0, 0.0, 1.0), texture)


def _intersect(plane: Plane, origin: torch.Tensor, direction: torch.Tensor):
    """Ray/plane hit: distance parameter t (rays ``origin + t·direction``), x, y, z of hits."""
    n = torch.tensor(plane.normal, dtype=origin.dtype)
    p0 = torch.tensor(plane.point, dtype=origin.dtype)
    denom = (direction * n).sum(-1)
    t = ((p0 - origin) * n).sum(-1) / torch.where(denom.abs() < 1e-12, torch.full_like(denom, 1e-12), denom)
    hit = origin + t.unsqueeze(-1) * direction
    return t, hit


def _shade(planes: list[Plane], origin: torch.Tensor, direction: torch.Tensor):
    """Front-to-back alpha compositing of all planes along each ray; returns (rgb, depth of first opaque hit mm)."""
    hits = []
    for pl in planes:
        t, hit = _intersect(pl, origin, direction)
        rgb, alpha = pl.texture(*(pl.uv(hit) if pl.uv is not None else (hit[..., 0], hit[..., 1])))
        alpha = torch.where(t > 0, alpha, torch.zeros_like(alpha))
        hits.append((hit[..., 2], rgb, alpha))
    zs = torch.stack([h[0] for h in hits])  # [P, ...]
    order = torch.argsort(torch.where(zs > 0, zs, torch.full_like(zs, float("inf"))), dim=0)
    rgbs = torch.stack([h[1] for h in hits])  # [P, ..., 3]
    alphas = torch.stack([h[2] for h in hits])  # [P, ...]
    out = torch.zeros_like(rgbs[0])
    trans = torch.ones_like(alphas[0])
    depth = torch.full_like(zs[0], float("inf"))
    for i in range(len(planes)):
        idx = order[i]
        a = torch.gather(alphas, 0, idx.unsqueeze(0)).squeeze(0)
        c = torch.gather(rgbs, 0, idx.unsqueeze(0).unsqueeze(-1).expand(1, *rgbs.shape[1:])).squeeze(0)
        z = torch.gather(zs, 0, idx.unsqueeze(0)).squeeze(0)
        depth = torch.where(torch.isinf(depth) & (a >= 0.5), z, depth)
        out = out + (trans * a).unsqueeze(-1) * c
        trans = trans * (1 - a)
    return out, depth


def _sensor_points(lens: ThinLens, h: int, w: int, jitter: torch.Tensor) -> torch.Tensor:
    """Sensor positions (mm, upright image coordinates) of pixel centres + ``jitter`` (px, [...,2])."""
    ppm = lens.pixels_per_mm(h, w)
    ys = torch.arange(h, dtype=torch.float64) + 0.5 - h / 2
    xs = torch.arange(w, dtype=torch.float64) + 0.5 - w / 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx + jitter[..., 0], yy + jitter[..., 1]], -1) / ppm


def _aperture_samples(n: int) -> torch.Tensor:
    """``n`` points uniformly covering the unit disc (Fibonacci spiral), ``[n,2]``."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    r = torch.sqrt(i / n)
    th = i * math.pi * (3 - math.sqrt(5))
    return torch.stack([r * torch.cos(th), r * torch.sin(th)], -1)


def render_reference(
    planes: list[Plane], lens: ThinLens, h: int, w: int, samples: int = 256, seed: int = 0
) -> torch.Tensor:
    """Defocused image ``[h,w,3]`` linear radiance, integrated over the aperture (``samples`` rays/pixel)."""
    g = torch.Generator().manual_seed(seed)
    v = lens.image_distance_mm
    S = lens.focus_distance_m * 1000.0
    ap = _aperture_samples(samples) * (lens.aperture_mm / 2)
    perm = torch.randperm(samples, generator=g)
    acc = torch.zeros(h, w, 3, dtype=torch.float64)
    for k in range(samples):
        jitter = torch.rand(h, w, 2, generator=g, dtype=torch.float64) - 0.5
        sensor = _sensor_points(lens, h, w, jitter)
        focus_pt = torch.cat([sensor * (S / v), torch.full((h, w, 1), S, dtype=torch.float64)], -1)
        lx, ly = ap[perm[k]]
        origin = torch.tensor([float(lx), float(ly), 0.0], dtype=torch.float64).expand(h, w, 3)
        rgb, _ = _shade(planes, origin, focus_pt - origin)
        acc += rgb
    return (acc / samples).to(torch.float32)


def render_pinhole(
    planes: list[Plane], lens: ThinLens, h: int, w: int, pixel_samples: int = 16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """All-in-focus linear radiance ``[h,w,3]`` (pixel-area averaged) and depth ``[h,w]`` in metres."""
    g = torch.Generator().manual_seed(seed)
    v = lens.image_distance_mm
    acc = torch.zeros(h, w, 3, dtype=torch.float64)
    origin = torch.zeros(h, w, 3, dtype=torch.float64)
    depth = None
    for k in range(pixel_samples):
        jitter = (
            torch.zeros(h, w, 2, dtype=torch.float64)
            if k == 0
            else torch.rand(h, w, 2, generator=g, dtype=torch.float64) - 0.5
        )
        sensor = _sensor_points(lens, h, w, jitter)
        direction = torch.cat([sensor / v, torch.ones(h, w, 1, dtype=torch.float64)], -1)
        rgb, z = _shade(planes, origin, direction)
        if depth is None:
            depth = z
        acc += rgb
    return (acc / pixel_samples).to(torch.float32), (depth / 1000.0).to(torch.float32)


def to_photo(linear: torch.Tensor) -> torch.Tensor:
    """What a camera file stores: sRGB, clipped at 1 (highlights lose their true brightness)."""
    return linear_to_srgb(linear)


# --- procedural textures --------------------------------------------------------------------


def pattern_texture(scale_mm: float, tint: tuple[float, float, float], contrast: float = 0.6) -> Texture:
    """Smooth coloured sinusoid pattern, opaque everywhere (mid-grey average 0.18·tint)."""
    t = torch.tensor(tint, dtype=torch.float64)

    def tex(x, y):
        p = 0.5 + 0.5 * contrast * torch.sin(x / scale_mm) * torch.cos(y / (1.3 * scale_mm))
        q = 0.5 + 0.5 * contrast * torch.sin((x + y) / (0.7 * scale_mm))
        rgb = torch.stack([p, q, 1 - 0.5 * (p + q)], -1) * 0.3 * t
        return rgb, torch.ones_like(x)

    return tex


def with_lights(
    base: Texture,
    centres_mm: list[tuple[float, float]],
    radius_mm: float,
    radiance: float,
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Texture:
    """Add small bright discs (point-like lights) of linear ``radiance`` to a texture."""
    c = torch.tensor(colour, dtype=torch.float64)

    def tex(x, y):
        rgb, a = base(x, y)
        lit = torch.zeros_like(x, dtype=torch.bool)
        for cx, cy in centres_mm:
            lit = lit | (((x - cx) ** 2 + (y - cy) ** 2) <= radius_mm**2)
        rgb = torch.where(lit.unsqueeze(-1), (radiance * c).expand_as(rgb), rgb)
        return rgb, a

    return tex


def shape_texture(base: Texture, inside: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Texture:
    """Cut a texture to a shape: alpha 1 where ``inside(x, y)``, else 0."""

    def tex(x, y):
        rgb, _ = base(x, y)
        return rgb, inside(x, y).to(x.dtype)

    return tex


# --- validation scenes ----------------------------------------------------------------------


def scene_point_lights() -> list[Plane]:
    """Background wall at 6 m with a grid of small HDR lights, a subject (ellipse) at 2 m and a
    thin near-foreground bar at 1.2 m: highlights, occlusion and foreground spill in one frame."""
    lights = [(x, y) for x in range(-1000, 1001, 250) for y in range(-600, 601, 300)]
    wall = with_lights(pattern_texture(90.0, (0.6, 0.7, 1.0)), lights, 9.0, 40.0, (1.0, 0.85, 0.6))
    head = shape_texture(
        pattern_texture(12.0, (1.0, 0.75, 0.6), 0.8), lambda x, y: (x / 150.0) ** 2 + (y / 230.0) ** 2 <= 1.0
    )
    bar = shape_texture(pattern_texture(8.0, (0.5, 1.0, 0.5), 0.5), lambda x, y: (x > -150.0) & (x < -120.0))
    return [card(6.0, wall), card(2.0, head), card(1.2, bar)]


def scene_depth_gradient() -> list[Plane]:
    """A textured floor receding from 1 m to the horizon, a wall at 8 m and a subject at 2 m:
    blur has to grow smoothly with distance, without steps."""
    floor = Plane((0.0, 300.0, 0.0), (0.0, 1.0, 0.0), pattern_texture(40.0, (1.0, 0.9, 0.7)))
    wall = card(8.0, pattern_texture(120.0, (0.7, 0.8, 1.0)))
    head = shape_texture(
        pattern_texture(12.0, (1.0, 0.75, 0.6), 0.8), lambda x, y: (x / 150.0) ** 2 + ((y + 50.0) / 230.0) ** 2 <= 1.0
    )
    return [floor, wall, card(2.0, head)]
