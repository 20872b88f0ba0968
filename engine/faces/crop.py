"""Rotated-rectangle crops of an image into a model's input grid, and the map back to pixels.

Image coordinates are continuous pixels: pixel ``i`` covers ``[i, i+1)``, its centre is ``i + 0.5``.
A region is a centre ``(cx, cy)``, a size ``(w, h)`` and an angle (radians, the region's x axis is
``(cos a, sin a)`` in the image, y pointing down). Crops sample bilinearly; regions much larger than
the output are first averaged down by an integer factor, so large photos do not alias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Region:
    cx: float
    cy: float
    w: float
    h: float
    angle: float = 0.0
    flip: bool = False  # mirror the crop left-right (and its coordinates back)

    def to_image(self, pts: torch.Tensor, out_w: int, out_h: int) -> torch.Tensor:
        """Points ``[N,2|3]`` in crop pixels (0..out_w, 0..out_h; z in crop x units) -> image pixels.
        z comes back in image pixels (scaled like x)."""
        s = pts[:, 0] / out_w - 0.5
        if self.flip:
            s = -s
        t = pts[:, 1] / out_h - 0.5
        c, n = math.cos(self.angle), math.sin(self.angle)
        x = self.cx + s * self.w * c - t * self.h * n
        y = self.cy + s * self.w * n + t * self.h * c
        cols = [x, y]
        if pts.shape[1] > 2:
            cols.append(pts[:, 2] / out_w * self.w)
        return torch.stack(cols, 1)


def crop(image: torch.Tensor, region: Region, out_h: int, out_w: int, border: str = "replicate") -> torch.Tensor:
    """Sample ``region`` of ``image [H,W,C]`` into ``[1,out_h,out_w,C]``; ``border`` "replicate" or "zero"."""
    H, W, C = image.shape
    half = 0.5 * math.hypot(region.w, region.h) + 2
    x0, y0 = max(0, int(math.floor(region.cx - half))), max(0, int(math.floor(region.cy - half)))
    x1, y1 = min(W, int(math.ceil(region.cx + half))), min(H, int(math.ceil(region.cy + half)))
    if x1 <= x0 or y1 <= y0:  # wholly outside: nearest edge pixels
        x0, y0 = min(max(0, x0), W - 1), min(max(0, y0), H - 1)
        x1, y1 = x0 + 1, y0 + 1
    scale = min(region.w / out_w, region.h / out_h)
    k = max(1, int(scale / 1.5))
    k = min(k, x1 - x0, y1 - y0)
    x1, y1 = x0 + (x1 - x0) // k * k, y0 + (y1 - y0) // k * k
    patch = image[y0:y1, x0:x1].permute(2, 0, 1)[None].float()
    if k > 1:
        patch = F.avg_pool2d(patch, k)
    ph, pw = patch.shape[-2:]
    dev = image.device
    s = (torch.arange(out_w, device=dev, dtype=torch.float32) + 0.5) / out_w - 0.5
    if region.flip:
        s = -s
    t = (torch.arange(out_h, device=dev, dtype=torch.float32) + 0.5) / out_h - 0.5
    s, t = s.view(1, out_w) * region.w, t.view(out_h, 1) * region.h
    c, n = math.cos(region.angle), math.sin(region.angle)
    X = region.cx + s * c - t * n
    Y = region.cy + s * n + t * c
    gx = 2 * ((X - x0) / k) / pw - 1
    gy = 2 * ((Y - y0) / k) / ph - 1
    grid = torch.stack([gx, gy], -1)[None]
    pad = "border" if border == "replicate" else "zeros"
    out = F.grid_sample(patch, grid, mode="bilinear", padding_mode=pad, align_corners=False)
    return out[0].permute(1, 2, 0)[None]
