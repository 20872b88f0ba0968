"""The lens: thin-lens optics, the aperture, focus, depth layers, the scatter renderer and the pipeline
that turns node inputs into a rendered batch.

IMAGE ``[B,H,W,3]`` sRGB 0..1 in and out; depth ``[B,H,W]`` metres; CoC sizes in pixels.
"""

from .aperture import Aperture
from .depth_lens import assumed_lens, lens_mismatch
from .depth_of_field import DepthOfField, acceptable_coc_mm, coc_px_at, depth_of_field, hyperfocal_distance_m
from .focus import auto_focus_distance
from .focus_point import focus_point_mask, parse_focus_point
from .highlights import highlights_under
from .optics import DEFAULT_SENSOR, SENSORS, ThinLens, sensor_diagonal_mm
from .overlay import in_focus_overlay
from .pipeline import LensResult, LensSettings, render_lens_bokeh
from .renderer import BokehResult, HighlightRebuild, RenderSettings, render_bokeh

__all__ = [
    "Aperture",
    "DepthOfField",
    "acceptable_coc_mm",
    "coc_px_at",
    "depth_of_field",
    "hyperfocal_distance_m",
    "auto_focus_distance",
    "focus_point_mask",
    "parse_focus_point",
    "assumed_lens",
    "lens_mismatch",
    "in_focus_overlay",
    "highlights_under",
    "DEFAULT_SENSOR",
    "SENSORS",
    "ThinLens",
    "sensor_diagonal_mm",
    "LensResult",
    "LensSettings",
    "render_lens_bokeh",
    "BokehResult",
    "HighlightRebuild",
    "RenderSettings",
    "render_bokeh",
]
