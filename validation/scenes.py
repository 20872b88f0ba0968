"""Synthetic portrait scenes at any resolution for benchmarks: a head with facial relief at the
focus distance, a textured background with small lights behind it."""

from __future__ import annotations

import torch


def portrait_scene(h: int, w: int, subject_m: float = 2.0, background_m: float = 8.0, seed: int = 0):
    """Returns (image ``[1,h,w,3]`` sRGB 0..1, depth ``[1,h,w]`` metres)."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(-1, 1, h).view(h, 1)
    xx = torch.linspace(-1, 1, w).view(1, w) * (w / h)
    # background: smooth colour pattern + fine noise + lights
    img = torch.empty(1, h, w, 3)
    img[0, ..., 0] = 0.35 + 0.15 * torch.sin(xx * 7) * torch.cos(yy * 5)
    img[0, ..., 1] = 0.30 + 0.15 * torch.sin(xx * 3 + yy * 4)
    img[0, ..., 2] = 0.40 + 0.15 * torch.cos(xx * 5 - yy * 2)
    img += 0.05 * torch.rand(1, h, w, 3, generator=g)
    n_lights = 60
    ly = torch.randint(0, h, (n_lights,), generator=g)
    lx = torch.randint(0, w, (n_lights,), generator=g)
    rad = max(1, h // 700)
    for y, x in zip(ly.tolist(), lx.tolist()):
        img[0, max(0, y - rad) : y + rad + 1, max(0, x - rad) : x + rad + 1] = 1.0
    depth = torch.full((1, h, w), background_m)
    # head: ellipse with relief (nose ~10 cm nearer than the ears)
    e = (xx / 0.45) ** 2 + ((yy + 0.05) / 0.62) ** 2
    head = e < 1
    relief = torch.sqrt((1 - e).clamp(min=0))
    depth[0] = torch.where(head, subject_m + 0.10 * (1 - relief), depth[0])
    # shoulders
    sh = ((xx / 1.1) ** 2 + ((yy - 1.25) / 0.6) ** 2) < 1
    depth[0] = torch.where(sh & ~head, torch.full_like(depth[0], subject_m + 0.15), depth[0])
    skin = torch.tensor([0.85, 0.62, 0.5])
    img[0] = torch.where((head | sh).unsqueeze(-1), skin * (0.8 + 0.2 * relief.unsqueeze(-1)), img[0])
    return img.clamp(0, 1), depth


# --- receding backgrounds for the exact thin-lens reference (validation/reference.py) -----------------------
# The camera looks down +z from the origin, level; world y grows downwards (as image rows do). A person is
# given as a card texture (mm on the card, e.g. benchmarks/bench_portrait_chain.astronaut_texture).

FRAME_TAN = 18.0 / 85.0  # half the width of a 640×480 landscape frame (36 × 27 mm) over an 85 mm lens
CAMERA_HEIGHT_MM = 408.0  # the camera above the floor: the astronaut card's bottom edge stands on it


def photo_texture(name: str, period_mm: float, tint: tuple[float, float, float], gain: float = 0.3):
    """A real photo texture from ``skimage.data`` (``"brick"``, ``"gravel"``, ``"grass"``, …) tiled with a
    period of ``period_mm`` on its surface, tinted, linear light (mean about ``gain``·tint), opaque."""
    import numpy as np
    from skimage import data

    from ..engine.core.colour import srgb_to_linear

    grey = np.asarray(getattr(data, name)(), dtype=np.float32)
    if grey.ndim == 3:
        grey = grey[..., :3].mean(-1)
    lin = srgb_to_linear(torch.from_numpy(grey / 255.0)).double()
    lin = lin / lin.mean()
    n_y, n_x = lin.shape
    t = torch.tensor(tint, dtype=torch.float64)

    def tex(u, v):
        iy = ((v / period_mm) % 1.0 * n_y).long().clamp(0, n_y - 1)
        ix = ((u / period_mm) % 1.0 * n_x).long().clamp(0, n_x - 1)
        g = lin[iy, ix]
        return (gain * g).unsqueeze(-1) * t, torch.ones_like(u)

    return tex


def lamps(base, centres_mm: list[tuple[float, float]], radius_mm: float, radiance: float):
    """``base`` with small bright discs (lamps, linear ``radiance``) at ``centres_mm`` (u, v on the surface)."""
    from .reference import with_lights

    return with_lights(base, centres_mm, radius_mm, radiance, (1.0, 0.85, 0.6))


def facade_scene(person, near_m: float = 4.0, far_m: float = 28.0, subject_m: float = 3.0, offset_m: float = -0.35):
    """A person card at ``subject_m`` (``offset_m`` sideways) before an oblique brick façade that recedes
    from ``near_m`` at the frame's left edge to ``far_m`` at its right edge, lamps on it every 1.2 m along
    it and 0.45 m up it."""
    from .reference import Plane, card

    x1, z1 = -FRAME_TAN * near_m * 1000, near_m * 1000
    x2, z2 = FRAME_TAN * far_m * 1000, far_m * 1000
    length = ((x2 - x1) ** 2 + (z2 - z1) ** 2) ** 0.5
    dx, dz = (x2 - x1) / length, (z2 - z1) / length
    centres = [(u, v) for u in range(-600, int(length) + 3000, 1200) for v in range(-1350, 1351, 450)]
    wall = lamps(photo_texture("brick", 1600.0, (1.0, 0.75, 0.6)), [(float(u), float(v)) for u, v in centres], 45, 30)
    facade = Plane(
        (x1, 0.0, z1), (dz, 0.0, -dx), wall, uv=lambda p: ((p[..., 0] - x1) * dx + (p[..., 2] - z1) * dz, p[..., 1])
    )
    return [facade, card(subject_m, _shifted(person, offset_m * 1000))]


def floor(texture, height_mm: float = CAMERA_HEIGHT_MM):
    """A level floor ``height_mm`` below the camera, textured in (x, z)."""
    from .reference import Plane

    return Plane((0.0, height_mm, 0.0), (0.0, 1.0, 0.0), texture, uv=lambda p: (p[..., 0], p[..., 2]))


def street_scene(person, subject_m: float = 3.0, end_m: float = 25.0, offset_m: float = -0.35):
    """A person card at ``subject_m`` (``offset_m`` sideways) standing on a street: gravel from about
    2.6 m at the frame's bottom to a building at ``end_m`` (lamps on it), a wall along the right side
    1.2 m off the axis with lamps every 2 m."""
    from .reference import Plane, card

    ground = floor(photo_texture("gravel", 900.0, (0.8, 0.78, 0.7)))
    side_lamps = [(float(z), float(y)) for z in range(5000, int(end_m * 1000), 2000) for y in (-600, -100)]
    side = Plane(
        (1200.0, 0.0, 0.0),
        (-1.0, 0.0, 0.0),
        lamps(photo_texture("brick", 1400.0, (0.7, 0.75, 0.9)), side_lamps, 45, 30),
        uv=lambda p: (p[..., 2], p[..., 1]),
    )
    end_lamps = [(float(x), float(y)) for x in range(-4000, 4001, 900) for y in range(-3000, 301, 700)]
    end = card(end_m, lamps(photo_texture("brick", 2500.0, (0.9, 0.85, 0.8)), end_lamps, 60, 30))
    return [ground, side, end, card(subject_m, _shifted(person, offset_m * 1000))]


def group_scene(
    person,
    distances_m: tuple[float, ...] = (3.0, 4.2, 5.6),
    wall_m: float = 10.0,
    offsets_m: tuple[float, ...] = (-0.55, 0.65, 0.05),
):
    """People cards at ``distances_m`` (rows of a group, each shifted sideways by ``offsets_m``),
    standing, on a floor (grass) with a wall at ``wall_m`` (lamps on it) behind them."""
    from .reference import card

    ground = floor(photo_texture("grass", 1200.0, (0.55, 0.75, 0.4)))
    wall_lamps = [(float(x), float(y)) for x in range(-3000, 3001, 600) for y in range(-2000, 501, 500)]
    back = card(wall_m, lamps(photo_texture("brick", 1800.0, (0.85, 0.8, 0.95)), wall_lamps, 40, 30))
    cards = [card(z, _shifted(person, off * 1000)) for z, off in sorted(zip(distances_m, offsets_m), reverse=True)]
    return [ground, back, *cards]


def _shifted(texture, dx_mm: float):
    return lambda x, y: texture(x - dx_mm, y)
