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
