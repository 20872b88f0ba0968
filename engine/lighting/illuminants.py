"""Illuminants and chromatic adaptation: CCT → chromaticity, Bradford CAT, CIELAB and ΔE2000.

Chromaticities are CIE 1931 xy. Linear RGB means linear sRGB / Rec. 709 primaries, D65 white.
"""

from __future__ import annotations

import warnings

import torch

# linear sRGB (D65) <-> CIE XYZ
RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=torch.float64,
)
XYZ_TO_RGB = torch.linalg.inv(RGB_TO_XYZ)
BRADFORD = torch.tensor(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]], dtype=torch.float64
)
D65_XY = (0.31271, 0.32902)


def planckian_xy(cct_k: float) -> tuple[float, float]:
    """Chromaticity of a black body at ``cct_k`` kelvin (Kim et al. 2002 cubic fit, 1667–25000 K)."""
    t = float(min(max(cct_k, 1667.0), 25000.0))
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


def daylight_xy(cct_k: float) -> tuple[float, float]:
    """Chromaticity of CIE daylight at ``cct_k`` kelvin (CIE 15, 4000–25000 K)."""
    t = float(min(max(cct_k, 4000.0), 25000.0))
    if t <= 7000:
        x = -4.6070e9 / t**3 + 2.9678e6 / t**2 + 0.09911e3 / t + 0.244063
    else:
        x = -2.0064e9 / t**3 + 1.9018e6 / t**2 + 0.24748e3 / t + 0.237040
    return x, -3.000 * x * x + 2.870 * x - 0.275


def cct_to_xy(cct_k: float, tint: float = 0.0) -> tuple[float, float]:
    """Illuminant chromaticity for a CCT: Planckian below 4000 K, CIE daylight from 4000 K.

    ``tint`` shifts along the green (+) – magenta (−) axis, perpendicular to the locus, by
    ``0.02·tint`` in y (about ±0.02 Duv at ±1).
    """
    x, y = planckian_xy(cct_k) if cct_k < 4000 else daylight_xy(cct_k)
    return x, y + 0.02 * tint


def xy_to_cct(x: float, y: float) -> float:
    """Correlated colour temperature from chromaticity (McCamy 1992; good to a few K for 2000–12500 K)."""
    n = (x - 0.3320) / (0.1858 - y)
    return 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33


def xy_to_xyz(x: float, y: float, Y: float = 1.0) -> torch.Tensor:
    return torch.tensor([x * Y / y, Y, (1 - x - y) * Y / y], dtype=torch.float64)


def xy_to_linear_rgb(x: float, y: float) -> tuple[float, float, float]:
    """Linear RGB of an illuminant of chromaticity xy, normalised to luminance 1."""
    rgb = XYZ_TO_RGB @ xy_to_xyz(x, y)
    return tuple(float(v) for v in rgb.clamp_min(0))  # type: ignore[return-value]


def bradford_matrix(src_xy: tuple[float, float], dst_xy: tuple[float, float]) -> torch.Tensor:
    """3×3 matrix on linear RGB adapting colours seen under ``src_xy`` to how they look under ``dst_xy``."""
    ws, wd = xy_to_xyz(*src_xy), xy_to_xyz(*dst_xy)
    cs, cd = BRADFORD @ ws, BRADFORD @ wd
    m_xyz = torch.linalg.inv(BRADFORD) @ torch.diag(cd / cs) @ BRADFORD
    return (XYZ_TO_RGB @ m_xyz @ RGB_TO_XYZ).to(torch.float32)


def linear_rgb_to_xy(rgb: torch.Tensor) -> tuple[float, float]:
    """Chromaticity of a linear RGB triple (or the sum of many, ``[...,3]``)."""
    xyz = RGB_TO_XYZ.to(rgb.dtype) @ rgb.reshape(-1, 3).sum(0)
    s = float(xyz.sum())
    return float(xyz[0]) / s, float(xyz[1]) / s


def estimate_illuminant_xy(rgb_linear: torch.Tensor, p: float = 6.0) -> tuple[float, float]:
    """Scene illuminant chromaticity by shades of grey (Minkowski p-norm of each channel), ``[...,3]``.

    Clipped and near-black pixels are left out.
    """
    px = rgb_linear.reshape(-1, 3).to(torch.float64)
    keep = (px.max(-1).values < 0.98) & (px.max(-1).values > 0.01)
    if int(keep.sum()) > 16:
        px = px[keep]
    est = (px.clamp_min(0) ** p).mean(0) ** (1 / p)
    if not bool(torch.isfinite(est).all()) or float(est.sum()) < 1e-9:
        warnings.warn(
            "the image is black (or has no usable colour): its illuminant cannot be estimated, assumed D65 (6500 K)",
            RuntimeWarning,
            stacklevel=2,
        )
        return D65_XY
    return linear_rgb_to_xy(est.to(torch.float64))
