"""The lighting presets the product sells: key and ambient illuminants (CCT in kelvin), tints,
exposure, contrast and how strongly each lights the bokeh."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LightingPreset:
    name: str
    key_cct_k: float
    ambient_cct_k: float
    key_tint: float = 0.0  # green (+) / magenta (−)
    ambient_tint: float = 0.0
    intensity: float = 1.0  # exposure multiplier on the key
    ambient_level: float = 1.0  # exposure multiplier on the ambient (background)
    contrast: float = 1.0  # around mid grey 0.18
    highlight_intensity: float = 1.0  # LensBokeh highlight gain multiplier
    description: str = ""


PRESETS: dict[str, LightingPreset] = {
    p.name: p
    for p in [
        LightingPreset(
            "warm cinematic",
            3200,
            7500,
            0.0,
            -0.1,
            1.0,
            0.8,
            1.1,
            1.25,
            "tungsten key, teal-leaning ambient, a touch more contrast",
        ),
        LightingPreset("cool studio", 6500, 6500, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, "daylight-balanced strobes, neutral"),
        LightingPreset(
            "golden hour",
            2900,
            5200,
            0.05,
            0.0,
            1.05,
            0.9,
            1.05,
            1.4,
            "low warm sun as rim/back light, soft daylight fill",
        ),
        LightingPreset("soft window", 5000, 5600, 0.0, 0.0, 1.0, 0.95, 0.9, 0.9, "north-window daylight, low contrast"),
        LightingPreset("neon night", 4500, 9000, -1.5, 0.5, 1.0, 0.7, 1.15, 1.6, "magenta key, cyan ambient"),
        LightingPreset("auto", 0, 0, description="estimate the scene's illuminant and keep it"),
    ]
}
DEFAULT_PRESET = "cool studio"
