"""The camera: sensor sizes, how an image's pixels map onto the sensor, and the lens assumed when none
is given. Both the lens (circles of confusion in pixels) and depth (a face's size in pixels to metres)
need this, so it sits below both.

Lengths in millimetres. The image is assumed to span the whole sensor: its diagonal maps onto the
sensor's diagonal.
"""

from __future__ import annotations

import math

# name -> (width mm, height mm)
SENSORS: dict[str, tuple[float, float]] = {
    "full frame 36x24": (36.0, 24.0),
    "APS-C 23.5x15.6": (23.5, 15.6),
    "Micro Four Thirds 17.3x13": (17.3, 13.0),
    "medium format 44x33": (44.0, 33.0),
}
DEFAULT_SENSOR = "full frame 36x24"

# The lens assumed where none is given: the classic portrait lens, 85 mm at f/1.8 (the product's default
# lens preset, ``engine.presets.DEFAULT_LENS``, is this lens).
DEFAULT_FOCAL_LENGTH_MM = 85.0
DEFAULT_F_NUMBER = 1.8


def sensor_diagonal_mm(sensor: str) -> float:
    try:
        w, h = SENSORS[sensor]
    except KeyError:
        raise ValueError(f"unknown sensor {sensor!r}; choose one of {sorted(SENSORS)}") from None
    return math.hypot(w, h)


def pixels_per_mm(height_px: int, width_px: int, sensor: str) -> float:
    """Pixels per sensor millimetre when an image of this size spans the sensor's diagonal."""
    return math.hypot(width_px, height_px) / sensor_diagonal_mm(sensor)
