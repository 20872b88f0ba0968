"""Depth of field of a thin lens: the near and far limits of acceptable sharpness, the hyperfocal
distance, and how large the blur of a given distance is in pixels of an output image.

The same thin-lens model as :class:`ThinLens` (CoC = A·v·|1/S − 1/Z|), solved for the distances whose
CoC equals the acceptable circle of confusion. The acceptable CoC defaults to the sensor diagonal
divided by 1500 (0.029 mm on full frame, the usual print-viewing criterion). The editor extension
(``js/lens_math.js``) computes the same numbers for its read-out; a test keeps the two equal.

Lengths: ``_mm`` millimetres, ``_m`` metres, ``_px`` pixels. ``math.inf`` stands for infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .optics import DEFAULT_SENSOR, ThinLens, pixels_per_mm, sensor_diagonal_mm

COC_DIAGONAL_DIVISOR = 1500.0


def acceptable_coc_mm(sensor: str = DEFAULT_SENSOR) -> float:
    """The largest blur circle on the sensor still seen as sharp: the sensor diagonal / 1500, in mm."""
    return sensor_diagonal_mm(sensor) / COC_DIAGONAL_DIVISOR


def hyperfocal_distance_m(focal_length_mm: float, f_number: float, coc_mm: float) -> float:
    """Hyperfocal distance H = f²/(N·c) + f in metres: focused there, everything from H/2 to infinity is sharp."""
    f = focal_length_mm
    return (f * f / (f_number * coc_mm) + f) / 1000.0


@dataclass(frozen=True)
class DepthOfField:
    """Depth of field of one lens setting. Distances in metres from the lens; ``far_limit_m`` is
    ``math.inf`` when focused at or beyond the hyperfocal distance."""

    focus_distance_m: float
    coc_limit_mm: float
    hyperfocal_m: float
    near_limit_m: float
    far_limit_m: float

    @property
    def total_m(self) -> float:
        """Depth of the sharp zone, far limit − near limit, in metres (``math.inf`` past hyperfocal)."""
        return self.far_limit_m - self.near_limit_m


def depth_of_field(
    focal_length_mm: float,
    f_number: float,
    focus_distance_m: float,
    sensor: str = DEFAULT_SENSOR,
    coc_mm: float | None = None,
) -> DepthOfField:
    """Near and far limits of acceptable sharpness and the hyperfocal distance.

    Near = s·(H − f)/(H + s − 2f), far = s·(H − f)/(H − s) (infinite when s ≥ H), exactly the
    distances where :meth:`ThinLens.coc_mm` reaches ``coc_mm`` (default :func:`acceptable_coc_mm`).
    """
    lens = ThinLens(focal_length_mm, f_number, focus_distance_m, sensor)  # validates the inputs
    c = acceptable_coc_mm(sensor) if coc_mm is None else float(coc_mm)
    if not c > 0:
        raise ValueError(f"coc_mm must be a positive number of millimetres, got {coc_mm}")
    f = lens.focal_length_mm
    s = lens.focus_distance_m * 1000.0
    h = hyperfocal_distance_m(f, f_number, c) * 1000.0
    near = s * (h - f) / (h + s - 2.0 * f)
    far = s * (h - f) / (h - s) if s < h else math.inf
    return DepthOfField(focus_distance_m, c, h / 1000.0, near / 1000.0, far / 1000.0)


def coc_px_at(
    focal_length_mm: float,
    f_number: float,
    focus_distance_m: float,
    distance_m: float,
    height_px: int,
    width_px: int,
    sensor: str = DEFAULT_SENSOR,
) -> float:
    """Blur circle diameter in pixels of a ``height_px`` × ``width_px`` output for a point at
    ``distance_m`` (``math.inf`` allowed) when focused at ``focus_distance_m``. Unsigned."""
    lens = ThinLens(focal_length_mm, f_number, focus_distance_m, sensor)
    s = lens.focus_distance_m * 1000.0
    inv_z = 0.0 if math.isinf(distance_m) else 1.0 / (distance_m * 1000.0)
    coc_mm = lens.aperture_mm * lens.image_distance_mm * abs(1.0 / s - inv_z)
    return coc_mm * pixels_per_mm(height_px, width_px, sensor)
