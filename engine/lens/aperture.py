"""Aperture shapes: the hard-edged, anti-aliased kernel a point of light spreads over.

A kernel is a 2-D float32 tensor summing to 1 (energy conservation), odd-sized, centred.
Shapes: a circle (``blades == 0``) or a regular polygon of ``blades`` sides rotated by
``rotation_deg``, its edges bowed towards the circumcircle by ``curvature`` (0 straight … 1 round).
Polygons are scaled to the same area as the circle of the given radius, so switching shape
keeps brightness and apparent size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_SUPERSAMPLE = 4  # samples per pixel side for anti-aliased edges


@dataclass(frozen=True)
class Aperture:
    blades: int = 0
    rotation_deg: float = 0.0
    curvature: float = 0.0

    def __post_init__(self) -> None:
        if self.blades != 0 and not 3 <= self.blades <= 16:
            raise ValueError(f"aperture_blades must be 0 (circular) or 3..16, got {self.blades}")
        if not 0.0 <= self.curvature <= 1.0:
            raise ValueError(f"blade_curvature must be within 0..1, got {self.curvature}")

    def boundary_radius(self, theta: torch.Tensor) -> torch.Tensor:
        """Distance from the centre to the aperture edge along angle ``theta`` (radians), for a unit
        area-equivalent radius."""
        if self.blades == 0:
            return torch.ones_like(theta)
        n = self.blades
        # regular n-gon with circumradius 1: r(θ) = cos(π/n) / cos(((θ − rot) mod 2π/n) − π/n)
        rot = math.radians(self.rotation_deg)
        seg = 2 * math.pi / n
        local = torch.remainder(theta - rot, seg) - seg / 2
        poly = math.cos(math.pi / n) / torch.cos(local)
        shape = (1 - self.curvature) * poly + self.curvature
        # scale so the shape's area equals π (same area as the unit circle)
        area = self._unit_area()
        return shape * math.sqrt(math.pi / area)

    def _unit_area(self) -> float:
        th = torch.linspace(0, 2 * math.pi, 4097, dtype=torch.float64)[:-1]
        if self.blades == 0:
            return math.pi
        n = self.blades
        rot = math.radians(self.rotation_deg)
        seg = 2 * math.pi / n
        local = torch.remainder(th - rot, seg) - seg / 2
        shape = (1 - self.curvature) * (math.cos(math.pi / n) / torch.cos(local)) + self.curvature
        return float(0.5 * (shape**2).mean() * 2 * math.pi)

    def kernel(self, radius_px: float, edge_px: float = 0.0, dtype=torch.float32, device=None) -> torch.Tensor:
        """The aperture image for a CoC of radius ``radius_px`` (area-equivalent), normalised to sum 1.

        ``edge_px``: width of a linear ramp centred on the boundary (0 = only pixel anti-aliasing).
        The renderer sets it to its layer spacing, so that mixing two neighbouring layer discs moves
        the half-intensity edge continuously between them instead of stacking two hard rims.
        Returns ``[K,K]`` with K odd. A radius below 0.5 px gives the 1×1 identity kernel.
        """
        if radius_px < 0.5:
            return torch.ones(1, 1, dtype=dtype, device=device)
        extent = radius_px * (math.sqrt(math.pi / self._unit_area()) if self.blades else 1.0)
        half = int(math.ceil(extent + 1.0 + edge_px / 2))
        ss = _SUPERSAMPLE
        offs = (torch.arange(ss, dtype=torch.float64) + 0.5) / ss - 0.5
        grid = torch.arange(-half, half + 1, dtype=torch.float64)
        ys = (grid[:, None] + offs[None, :]).reshape(-1)
        xs = ys.clone()
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        rr = torch.sqrt(xx * xx + yy * yy)
        theta = torch.atan2(-yy, xx)  # image y points down; angles counter-clockwise on screen
        boundary = radius_px * self.boundary_radius(theta)
        if edge_px > 0:
            inside = ((boundary - rr) / edge_px + 0.5).clamp(0.0, 1.0)
        else:
            inside = (rr <= boundary).to(torch.float64)
        k = inside.view(2 * half + 1, ss, 2 * half + 1, ss).mean(dim=(1, 3))
        k = k / k.sum()
        return k.to(dtype=dtype, device=device)
