"""Lighting: illuminants (CCT, Bradford adaptation), presets and re-lighting, and the LIGHTING value
that colours the bokeh. IMAGE ``[B,H,W,3]`` sRGB 0..1; colours in linear Rec. 709 RGB."""

from .illuminants import cct_to_xy, xy_to_cct
from .presets import DEFAULT_PRESET, PRESETS, LightingPreset
from .relight import LightingParams, lambert_shading, relight, resolve_setup
from .setup import LightingSetup

__all__ = [
    "cct_to_xy",
    "xy_to_cct",
    "DEFAULT_PRESET",
    "PRESETS",
    "LightingPreset",
    "LightingParams",
    "lambert_shading",
    "relight",
    "resolve_setup",
    "LightingSetup",
]
