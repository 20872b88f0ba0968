"""The product presets, defined once: lenses, lighting looks and portrait styles. The product's menus sit
on top of the engine: they read the lighting looks from ``engine.lighting`` and the styles from
``engine.generation``; no capability of the engine reads them (the lens a capability assumes when none
is given is ``engine.core.camera``'s default lens, which :data:`DEFAULT_LENS` is).

Everything that offers a preset (the shipped workflows in ``workflows/``, the README tables,
scripts) reads it from here. A lens preset is only a starting point: any focal length 50–135 mm and
any f-number is a widget change on LensBokeh.

Lighting looks are the entries of :data:`portraitos.engine.lighting.PRESETS` (their colour science
lives there); this module only says which of them the product offers and which is the default.

Styles belong to PortraitGenerate (``engine/generation``): :func:`portrait_styles` reads them from
there.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.camera import DEFAULT_F_NUMBER, DEFAULT_FOCAL_LENGTH_MM
from ..generation import STYLES
from ..lighting.presets import PRESETS


@dataclass(frozen=True)
class LensPreset:
    """A lens as a photographer names it: focal length in mm, f-number (N), aperture blades
    (0 = circular opening)."""

    focal_length_mm: float
    f_number: float
    aperture_blades: int = 0
    description: str = ""

    def __post_init__(self) -> None:  # widgets and saved workflows hold floats: 85 -> 85.0
        object.__setattr__(self, "focal_length_mm", float(self.focal_length_mm))
        object.__setattr__(self, "f_number", float(self.f_number))

    @property
    def label(self) -> str:
        """``85 mm f/1.8``"""
        return f"{self.focal_length_mm:g} mm f/{self.f_number:g}"

    @property
    def slug(self) -> str:
        """``85mm_f1.8`` (file names)."""
        return f"{self.focal_length_mm:g}mm_f{self.f_number:g}"


LENSES: tuple[LensPreset, ...] = (
    LensPreset(
        DEFAULT_FOCAL_LENGTH_MM,
        DEFAULT_F_NUMBER,
        description="the classic portrait lens, face sharp end to end, background melted",
    ),
    LensPreset(85, 1.2, description="the dreamiest separation: eyes sharp, ears already soft"),
    LensPreset(85, 2.8, description="more of the head and shoulders in focus, background still soft"),
    LensPreset(50, 1.8, description="wider framing with more of the room, gentler blur"),
    LensPreset(135, 2.0, description="compressed background, strongest blur at head-and-shoulders framing"),
)
DEFAULT_LENS: LensPreset = LENSES[0]

LIGHTING: tuple[str, ...] = ("warm cinematic", "cool studio", "golden hour", "soft window", "neon night")
DEFAULT_LIGHTING: str = "warm cinematic"


def lighting_presets() -> dict:
    """The product's lighting looks as ``engine.lighting`` defines them, checked: a renamed lighting
    preset must be renamed in :data:`LIGHTING` too."""
    missing = [name for name in LIGHTING if name not in PRESETS]
    if missing:
        raise ImportError(f"product lighting looks {missing} are not in engine.lighting.PRESETS {list(PRESETS)}")
    return {name: PRESETS[name] for name in LIGHTING}


def slug(name: str) -> str:
    """``warm cinematic`` -> ``warm-cinematic`` (file names)."""
    return "-".join(name.lower().split())


def portrait_styles() -> tuple[str, ...]:
    """PortraitGenerate's style presets, in its order: the keys of ``engine.generation.STYLES``, the style
    names its ``style`` input offers."""
    return tuple(STYLES)
