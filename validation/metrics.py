"""Quality metrics used by tests and benchmarks: PSNR, depth-edge error, CIELAB and CIEDE2000."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..engine.lighting.illuminants import D65_XY, RGB_TO_XYZ, xy_to_xyz


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two sRGB images in 0..1."""
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def edge_error(pred_disp: torch.Tensor, true_disp: torch.Tensor, band_px: int = 4, rel_jump: float = 0.08) -> float:
    """Mean absolute disparity error within ``band_px`` of the true depth edges ``[H,W]``
    (pixels whose disparity changes by more than ``rel_jump`` of its range to a neighbour)."""
    t = true_disp
    rng = float(t.max() - t.min())
    gx = (t[:, 1:] - t[:, :-1]).abs() > rel_jump * rng
    gy = (t[1:, :] - t[:-1, :]).abs() > rel_jump * rng
    edges = torch.zeros_like(t, dtype=torch.bool)
    edges[:, 1:] |= gx
    edges[1:, :] |= gy
    band = F.max_pool2d(edges.float()[None, None], 2 * band_px + 1, stride=1, padding=band_px)[0, 0] > 0
    return float((pred_disp - t).abs()[band].mean())


def linear_rgb_to_lab(rgb: torch.Tensor, white_xy: tuple[float, float] = D65_XY) -> torch.Tensor:
    """CIELAB of linear RGB ``[...,3]`` relative to the white ``white_xy`` (Y = 1)."""
    xyz = rgb.to(torch.float64) @ RGB_TO_XYZ.T
    w = xy_to_xyz(*white_xy)
    t = xyz / w
    d = 6 / 29
    f = torch.where(t > d**3, t.clamp_min(1e-12) ** (1 / 3), t / (3 * d * d) + 4 / 29)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return torch.stack([L, a, b], -1)


def delta_e2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference of CIELAB colours ``[...,3]``."""
    L1, a1, b1 = lab1.unbind(-1)
    L2, a2, b2 = lab2.unbind(-1)
    C1, C2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    Cb = (C1 + C2) / 2
    G = 0.5 * (1 - torch.sqrt(Cb**7 / (Cb**7 + 25.0**7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.rad2deg(torch.atan2(b1, a1p)) % 360
    h2p = torch.rad2deg(torch.atan2(b2, a2p)) % 360
    dLp = L2 - L1
    dCp = C2p - C1p
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(C1p * C2p == 0, torch.zeros_like(dh), dh)
    dHp = 2 * torch.sqrt(C1p * C2p) * torch.sin(torch.deg2rad(dh / 2))
    Lbp = (L1 + L2) / 2
    Cbp = (C1p + C2p) / 2
    hs = h1p + h2p
    hbp = torch.where(
        (C1p * C2p) == 0,
        hs,
        torch.where((h1p - h2p).abs() <= 180, hs / 2, torch.where(hs < 360, (hs + 360) / 2, (hs - 360) / 2)),
    )
    T = (
        1
        - 0.17 * torch.cos(torch.deg2rad(hbp - 30))
        + 0.24 * torch.cos(torch.deg2rad(2 * hbp))
        + 0.32 * torch.cos(torch.deg2rad(3 * hbp + 6))
        - 0.20 * torch.cos(torch.deg2rad(4 * hbp - 63))
    )
    dtheta = 30 * torch.exp(-(((hbp - 275) / 25) ** 2))
    Rc = 2 * torch.sqrt(Cbp**7 / (Cbp**7 + 25.0**7))
    Sl = 1 + 0.015 * (Lbp - 50) ** 2 / torch.sqrt(20 + (Lbp - 50) ** 2)
    Sc = 1 + 0.045 * Cbp
    Sh = 1 + 0.015 * Cbp * T
    Rt = -torch.sin(torch.deg2rad(2 * dtheta)) * Rc
    return torch.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))
