"""Thin-lens camera model: circle of confusion from focal length, f-number and focus distance.

All lengths in millimetres unless a name says otherwise (``_m`` metres, ``_px`` pixels).
The image is assumed to span the whole sensor: the image diagonal maps onto the sensor
diagonal (for a 3:2 image on full frame that is exactly 36 mm across the long side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.camera import DEFAULT_SENSOR, SENSORS, pixels_per_mm, sensor_diagonal_mm  # noqa: F401  (re-exported)
from ..core.chunks import row_chunks


@dataclass(frozen=True)
class ThinLens:
    """A thin lens focused at ``focus_distance_m`` projecting onto a sensor.

    focal_length_mm: f; f_number: N (aperture diameter A = f/N); focus_distance_m: S, measured
    from the lens. ``sensor`` is a key of :data:`SENSORS`.
    """

    focal_length_mm: float
    f_number: float
    focus_distance_m: float
    sensor: str = DEFAULT_SENSOR

    def __post_init__(self) -> None:
        if not (self.focal_length_mm > 0 and math.isfinite(self.focal_length_mm)):
            raise ValueError(f"focal length must be a positive number of mm, got {self.focal_length_mm}")
        if not (self.f_number > 0 and math.isfinite(self.f_number)):
            raise ValueError(f"f-number must be positive, got {self.f_number}")
        if not math.isfinite(self.focus_distance_m) or self.focus_distance_m * 1000.0 <= self.focal_length_mm:
            raise ValueError(
                f"focus distance {self.focus_distance_m:g} m must be farther than the focal length "
                f"({self.focal_length_mm:g} mm = {self.focal_length_mm / 1000:g} m): a lens cannot focus closer "
                "than one focal length. Increase focus_distance_m or set it to 0 for auto focus."
            )
        sensor_diagonal_mm(self.sensor)  # validates the name

    @property
    def aperture_mm(self) -> float:
        """Entrance pupil diameter A = f/N in mm."""
        return self.focal_length_mm / self.f_number

    @property
    def image_distance_mm(self) -> float:
        """Lens-to-sensor distance v = f·S/(S − f) in mm."""
        s = self.focus_distance_m * 1000.0
        f = self.focal_length_mm
        return f * s / (s - f)

    def coc_mm(self, depth_m: torch.Tensor | float) -> torch.Tensor:
        """Signed CoC diameter on the sensor in mm: A·v·(1/S − 1/Z).

        Positive behind the focus plane (Z > S), negative in front of it. ``depth_m`` in metres.
        """
        z = torch.as_tensor(depth_m, dtype=torch.float32) * 1000.0
        s = self.focus_distance_m * 1000.0
        return self.aperture_mm * self.image_distance_mm * (1.0 / s - 1.0 / z)

    def pixels_per_mm(self, height_px: int, width_px: int) -> float:
        """Pixels per sensor millimetre when an image of this size spans the sensor diagonal."""
        return pixels_per_mm(height_px, width_px, self.sensor)

    def coc_px(self, depth_m: torch.Tensor, height_px: int, width_px: int) -> torch.Tensor:
        """Signed CoC diameter in pixels of an ``height_px`` × ``width_px`` image (float32, ``depth_m``'s shape).

        Written as K/S − K/Z with K = A·v·(px per mm), three passes over the map (row chunks on the CPU).
        """
        z = torch.as_tensor(depth_m, dtype=torch.float32)
        k = self.aperture_mm * self.image_distance_mm * self.pixels_per_mm(height_px, width_px)
        at_focus, per_inverse_m = k / (self.focus_distance_m * 1000.0), -k / 1000.0
        out = torch.empty(z.shape, dtype=torch.float32, device=z.device)
        if z.device.type != "cpu":
            return torch.reciprocal(z, out=out).mul_(per_inverse_m).add_(at_focus)
        flat_z, flat_out = z.reshape(-1), out.view(-1)
        for a, b in row_chunks(flat_z.numel(), 1):
            torch.reciprocal(flat_z[a:b], out=flat_out[a:b]).mul_(per_inverse_m).add_(at_focus)
        return out
