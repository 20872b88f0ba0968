"""The LIGHTING value: what a lighting setup tells the bokeh renderer.

key_rgb / ambient_rgb: linear RGB of the illuminants, normalised to luminance 1.
highlight_rgb: colour rebuilt bokeh highlights take (linear RGB, luminance 1).
highlight_intensity: multiplier on the highlight rebuild gain (1 = neutral).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LightingSetup:
    name: str
    key_cct_k: float
    ambient_cct_k: float
    key_rgb: tuple[float, float, float]
    ambient_rgb: tuple[float, float, float]
    highlight_rgb: tuple[float, float, float]
    highlight_intensity: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
