"""Night scenes for the exact thin-lens reference: lamps at several distances, and a portrait over string
lights (validation, not product).

A lamp is a small disc of HDR radiance (tens of times display white) on a card of its own, transparent
around it, so that its depth is its own; the photo LensBokeh sees clips it at white (``to_photo``), as a
camera does. Ray tracing a lamp of a pixel or two through the aperture would need thousands of rays per
pixel to show its disc without speckle, so the exact defocus image is the scene without its lamps, ray
traced (``render_reference``), plus each lamp's light followed from the lamp through the aperture
(``render_lamps``): every sample a point of the lamp and a point of the aperture, occluded by what lies
nearer, landing where the thin lens puts it. ``lamp_region`` marks where the lens spreads each lamp's light
(its disc and a margin), the region the lamps' PSNR is measured on.
Units: millimetres in the scene (camera at the origin looking down +z, x right, y down), metres for depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..engine.lens.optics import ThinLens
from .reference import Plane, Texture, card, pattern_texture, shape_texture


@dataclass(frozen=True)
class Lamp:
    """A round lamp: centre ``(x_mm, y_mm)`` on a card at ``z_m``, ``radius_mm``, linear ``radiance`` (display
    white = 1) and linear RGB ``colour`` (brightest channel 1)."""

    x_mm: float
    y_mm: float
    z_m: float
    radius_mm: float
    radiance: float
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)


WARM = (1.0, 0.72, 0.38)  # a tungsten bulb, about 2700 K
AMBER = (1.0, 0.55, 0.2)
COOL = (0.62, 0.8, 1.0)
GREEN = (0.45, 1.0, 0.5)


def lamps_texture(lamps: list[Lamp]) -> Texture:
    """The lamps (all on one card), alone on a transparent card."""
    cx = torch.tensor([lp.x_mm for lp in lamps], dtype=torch.float64)
    cy = torch.tensor([lp.y_mm for lp in lamps], dtype=torch.float64)
    r2 = torch.tensor([lp.radius_mm**2 for lp in lamps], dtype=torch.float64)
    rgb_l = torch.tensor([[lp.radiance * c for c in lp.colour] for lp in lamps], dtype=torch.float64)

    def tex(x, y):
        rgb, a = torch.zeros(*x.shape, 3, dtype=x.dtype), torch.zeros_like(x)
        which = torch.full(x.shape, -1, dtype=torch.long)
        for k in range(len(lamps)):
            inside = (x - cx[k]) ** 2 + (y - cy[k]) ** 2 <= r2[k]
            which = torch.where(inside, torch.full_like(which, k), which)
        lit = which >= 0
        rgb = torch.where(lit.unsqueeze(-1), rgb_l[which.clamp(min=0)], rgb)
        return rgb, torch.where(lit, torch.ones_like(a), a)

    return tex


def lamp_cards(lamps: list[Lamp], nudge_m: float = 0.0) -> list[Plane]:
    """One transparent card per lamp depth (``nudge_m`` nearer than the lamps' depth)."""
    return [
        card(z - nudge_m, lamps_texture([lp for lp in lamps if lp.z_m == z])) for z in sorted({lp.z_m for lp in lamps})
    ]


def _night_wall(z_m: float) -> Texture:
    """A dim bluish wall (night exposure: about a tenth of the day walls' radiance)."""
    day = pattern_texture(70.0 * z_m / 6, (0.5, 0.6, 1.0), 0.7)

    def tex(x, y):
        rgb, a = day(x, y)
        return rgb * 0.15, a

    return tex


def lamps_at_distances() -> tuple[list[Plane], list[Lamp]]:
    """Lamps of several colours and sizes at 2 m (the focus plane: in focus), 3.5, 6, 10 and 18 m, in front of a
    dim wall at 20 m, and a dim subject (an ellipse) at 2 m: for an 85 mm lens focused at 2 m, in a 480 × 320
    frame. Returns the planes without the lamps, and the lamps (``with_lamps`` puts them in)."""
    lamps = [Lamp(-330.0, -150.0, 2.0, 2.2, 30.0, WARM), Lamp(300.0, 170.0, 2.0, 1.6, 50.0, COOL)]
    rows = ((3.5, 3, AMBER, 25.0), (6.0, 4, WARM, 40.0), (10.0, 5, COOL, 60.0), (18.0, 4, GREEN, 80.0))
    for j, (z, n, colour, radiance) in enumerate(rows):
        fx, fy = 18.0 * z * 1000 / 88.8, 12.0 * z * 1000 / 88.8  # the frame's half-width and half-height there
        for k in range(n):
            x = (-0.75 + 1.5 * (k + 0.5) / n + 0.04 * j) * fx
            y = (-0.75 + 0.42 * j + 0.12 * (k % 2)) * fy
            lamps.append(Lamp(x, y, z, 0.9 * z, radiance, colour))
    head = shape_texture(
        pattern_texture(12.0, (0.5, 0.38, 0.3), 0.6), lambda x, y: (x / 120.0) ** 2 + ((y - 40.0) / 170.0) ** 2 <= 1.0
    )
    return [card(20.0, _night_wall(20.0)), card(2.0, head)], lamps


def string_lights(z_m: float, x0_mm: float, x1_mm: float, y_mm: float, sag_mm: float, n: int) -> list[Lamp]:
    """``n`` warm bulbs hanging along a sagging string at ``z_m`` from ``x0_mm`` to ``x1_mm`` (lowest ``sag_mm``
    below ``y_mm`` in the middle; y grows downwards); bulbs 0.6 cm across, radiance 30–60 times white, colours
    alternating."""
    out = []
    colours = (WARM, WARM, AMBER, WARM)
    for k in range(n):
        t = (k + 0.5) / n
        x = x0_mm + (x1_mm - x0_mm) * t
        y = y_mm + sag_mm * (1.0 - (2 * t - 1) ** 2)
        out.append(Lamp(x, y, z_m, 3.0, 30.0 + 30.0 * ((k * 7) % 5) / 4, colours[k % 4]))
    return out


def portrait_over_string_lights(person: Texture, subject_m: float = 2.2) -> tuple[list[Plane], list[Lamp]]:
    """A person (``person``: a card texture with alpha, e.g. ``bench_portrait_chain.astronaut_texture``) at
    ``subject_m`` over two strings of warm bulbs (at 4 and 7 m) and a few cool windows on a dim wall at 12 m.
    Returns the planes without the lamps, and the lamps."""
    lamps = string_lights(4.0, -650.0, 650.0, -650.0, 300.0, 13) + string_lights(
        7.0, -1150.0, 1150.0, -400.0, 500.0, 15
    )
    windows = [Lamp(x, y, 12.0, 40.0, 12.0, COOL) for x, y in ((-1300.0, -1900.0), (1400.0, -300.0), (1100.0, 1200.0))]
    lamps += windows
    return [card(12.0, _night_wall(12.0)), card(subject_m, person)], lamps


def with_lamps(planes: list[Plane], lamps: list[Lamp]) -> list[Plane]:
    """The scene with its lamps: one transparent card per lamp depth, just in front of any card at that depth."""
    return [*planes, *lamp_cards(lamps, nudge_m=1e-4)]


def render_lamps(
    planes: list[Plane], lamps: list[Lamp], lens: ThinLens, h: int, w: int, samples: int = 40000, seed: int = 0
) -> torch.Tensor:
    """The lamps' exact defocus image ``[h,w,3]`` (linear radiance, to add to ``render_reference`` of
    ``planes``): ``samples`` rays per lamp, each from a uniform point of the lamp's disc through a uniform
    point of the aperture, dimmed by the alpha of every plane of ``planes`` it crosses nearer than the lamp,
    landing on the sensor at P·v/Z + q·v·(1/S − 1/Z) (the thin lens focused at S, image distance v) and
    spread bilinearly. Each carries 1/``samples`` of the lamp's radiance times its area on the sensor (px²)."""
    g = torch.Generator().manual_seed(seed)
    ppm = lens.pixels_per_mm(h, w)
    v, S = lens.image_distance_mm, lens.focus_distance_m * 1000.0
    out = torch.zeros(h * w, 3, dtype=torch.float64)
    for lp in lamps:
        Z = lp.z_m * 1000.0
        rr = torch.sqrt(torch.rand(samples, generator=g, dtype=torch.float64))
        th = torch.rand(samples, generator=g, dtype=torch.float64) * 2 * math.pi
        px = lp.x_mm + lp.radius_mm * rr * torch.cos(th)
        py = lp.y_mm + lp.radius_mm * rr * torch.sin(th)
        ra = torch.sqrt(torch.rand(samples, generator=g, dtype=torch.float64)) * lens.aperture_mm / 2
        ta = torch.rand(samples, generator=g, dtype=torch.float64) * 2 * math.pi
        qx, qy = ra * torch.cos(ta), ra * torch.sin(ta)
        trans = torch.ones(samples, dtype=torch.float64)
        for pl in planes:
            zc = pl.point[2]
            if pl.normal != (0.0, 0.0, 1.0) or not 0 < zc < Z - 1e-6:
                continue
            f = zc / Z  # the ray from q (z = 0) to the lamp point crosses the card here
            _, alpha = pl.texture(qx + (px - qx) * f, qy + (py - qy) * f)
            trans = trans * (1 - alpha)
        sx = (px * v / Z + qx * v * (1 / S - 1 / Z)) * ppm + w / 2 - 0.5
        sy = (py * v / Z + qy * v * (1 / S - 1 / Z)) * ppm + h / 2 - 0.5
        area = math.pi * (lp.radius_mm * v / Z * ppm) ** 2
        energy = trans * (lp.radiance * area / samples)
        x0, y0 = torch.floor(sx), torch.floor(sy)
        fx, fy = sx - x0, sy - y0
        colour = torch.tensor(lp.colour, dtype=torch.float64)
        for dy, dx, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
            yy, xx = (y0 + dy).long(), (x0 + dx).long()
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            out.index_add_(0, (yy * w + xx)[ok], (energy * wgt)[ok].unsqueeze(1) * colour)
    return out.view(h, w, 3).to(torch.float32)


def camera_glare(lin: torch.Tensor, halo: float = 0.02, radius_px: float = 3.0) -> torch.Tensor:
    """Linear ``[h,w,3]`` seen through a real lens's veiling glare: ``halo`` of every pixel's light spread over an
    exponential halo of ``radius_px`` (mean free path), the rest left in place. A clipped lamp in a photo keeps an
    unclipped fringe of its own colour this way, as in a real camera; apply it to the photo and to the exact
    defocus image alike (the same camera)."""
    half = int(math.ceil(6 * radius_px))
    r = torch.arange(-half, half + 1, dtype=torch.float64)
    k = torch.exp(-torch.sqrt(r.view(-1, 1) ** 2 + r.view(1, -1) ** 2) / radius_px)
    k = (k / k.sum() * halo).to(lin.dtype)
    k[half, half] += 1.0 - halo
    x = lin.permute(2, 0, 1).unsqueeze(1)  # [3,1,h,w]
    x = torch.nn.functional.pad(x, (half, half, half, half), mode="replicate")
    return torch.nn.functional.conv2d(x, k.view(1, 1, *k.shape)).squeeze(1).permute(1, 2, 0)


def lamp_region(lamps: list[Lamp], lens: ThinLens, h: int, w: int, margin_px: float = 2.0) -> torch.Tensor:
    """``[h,w]`` bool: within each lamp's defocus disc through ``lens`` (its projection, the lamp's own image
    radius plus its CoC radius, plus ``margin_px``)."""
    ppm = lens.pixels_per_mm(h, w)
    v = lens.image_distance_mm
    yy = torch.arange(h, dtype=torch.float64).view(h, 1) + 0.5 - h / 2
    xx = torch.arange(w, dtype=torch.float64).view(1, w) + 0.5 - w / 2
    region = torch.zeros(h, w, dtype=torch.bool)
    for lp in lamps:
        z_mm = lp.z_m * 1000.0
        px, py = lp.x_mm * v / z_mm * ppm, lp.y_mm * v / z_mm * ppm
        coc = abs(float(lens.coc_px(torch.tensor([lp.z_m]), h, w)[0]))
        r = lp.radius_mm * v / z_mm * ppm + coc / 2 + margin_px
        region |= (xx - px) ** 2 + (yy - py) ** 2 <= r * r
    return region


def edge_band(depth_m: torch.Tensor, band_px: int = 4, rel_jump: float = 0.08) -> torch.Tensor:
    """``[h,w]`` bool: within ``band_px`` of a depth step (disparity changing by more than ``rel_jump`` of
    its range between neighbours) of the true depth ``[h,w]`` metres."""
    disp = 1.0 / depth_m.clamp_min(1e-3)
    rng = float(disp.max() - disp.min())
    edges = torch.zeros_like(disp, dtype=torch.bool)
    edges[:, 1:] |= (disp[:, 1:] - disp[:, :-1]).abs() > rel_jump * rng
    edges[1:, :] |= (disp[1:, :] - disp[:-1, :]).abs() > rel_jump * rng
    k = 2 * band_px + 1
    grown = torch.nn.functional.max_pool2d(edges.float()[None, None], k, stride=1, padding=band_px)[0, 0]
    return grown > 0


def masked_psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR in dB between sRGB images ``[h,w,3]`` (0..1) over the pixels of ``mask [h,w]``."""
    d = (a.clamp(0, 1) - b.clamp(0, 1))[mask]
    mse = float((d**2).mean()) if d.numel() else 0.0
    return 10 * math.log10(1.0 / max(mse, 1e-12))
