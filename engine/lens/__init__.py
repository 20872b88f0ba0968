"""The lens: thin-lens optics, the aperture, focus, depth layers, the scatter renderer and the pipeline
that turns node inputs into a rendered batch.

IMAGE ``[B,H,W,3]`` sRGB 0..1 in and out; depth ``[B,H,W]`` metres; CoC sizes in pixels.
"""

from .aperture import Aperture
from .focus import auto_focus_distance
from .highlights import highlights_under
from .optics import DEFAULT_SENSOR, SENSORS, ThinLens, sensor_diagonal_mm
from .pipeline import LensResult, LensSettings, render_lens_bokeh
from .renderer import BokehResult, HighlightRebuild, RenderSettings, render_bokeh

__all__ = [
    "Aperture",
    "auto_focus_distance",
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
