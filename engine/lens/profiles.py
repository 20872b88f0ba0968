"""Lens profiles: generic lens designs that combine an aperture with a :class:`LensCharacter`.

Names describe a kind of lens, not a make. ``ideal`` (the default) is the ideal thin lens with the
aperture the user sets: it renders exactly as without profiles. The other profiles bring their own
aperture (blades, curvature) and character; their barrel geometry is stated at the lens's widest
aperture, so stopping down (a larger f_number than the profile's) shrinks the cat's eye as on a real lens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .aperture import Aperture
from .character import LensCharacter, disc_mask
from .optics import DEFAULT_SENSOR, ThinLens

IDEAL = "ideal"


@dataclass(frozen=True)
class LensProfile:
    name: str
    description: str
    aperture: Optional[Aperture]  # None: the user's aperture (ideal)
    character: Optional[LensCharacter]  # None: the ideal thin lens
    focal_length_mm: float  # the design's focal length (for drawing its discs)
    max_aperture: float  # its widest f-number


PROFILES: dict[str, LensProfile] = {
    p.name: p
    for p in (
        LensProfile(IDEAL, "ideal thin lens: the aperture you set, the same disc everywhere", None, None, 85.0, 1.8),
        LensProfile(
            "classic 85 f/1.2",
            "fast classic portrait lens: cat's eyes toward the corners wide open, under-corrected spherical "
            "aberration (bright rims behind focus, soft in front), magenta/green fringes",
            Aperture(8, 0.0, 0.7),
            LensCharacter(
                spherical=0.45,
                loca_permille=1.2,
                barrel_radius=1.05,
                barrel_distance=0.8,
                max_aperture=1.2,
            ),
            85.0,
            1.2,
        ),
        LensProfile(
            "modern 85 f/1.4 · 11 blades",
            "modern corrected portrait lens: round discs from 11 curved blades, mild cat's eye, little fringing",
            Aperture(11, 0.0, 0.85),
            LensCharacter(
                spherical=0.1,
                loca_permille=0.4,
                barrel_radius=1.1,
                barrel_distance=0.5,
                max_aperture=1.4,
            ),
            85.0,
            1.4,
        ),
        LensProfile(
            "vintage 58 f/2 · swirl",
            "vintage double-Gauss: strong cat's eyes on a curved field (swirl), onion rings, strong fringes",
            Aperture(0),
            LensCharacter(
                spherical=0.35,
                onion_rings=0.25,
                loca_permille=2.0,
                barrel_radius=1.0,
                barrel_distance=0.8,
                max_aperture=2.0,
                field_curvature=0.35,
            ),
            58.0,
            2.0,
        ),
        LensProfile(
            "anamorphic 50 T2 · 2×",
            "2× anamorphic: oval discs twice as tall as wide, the blur narrower across than up and down",
            Aperture(0),
            LensCharacter(squeeze=2.0, spherical=0.15, loca_permille=0.8),
            50.0,
            2.0,
        ),
        LensProfile(
            "anamorphic 40 T2 · 1.33×",
            "1.33× anamorphic: gently oval discs",
            Aperture(0),
            LensCharacter(squeeze=1.33, spherical=0.1, loca_permille=0.6),
            40.0,
            2.0,
        ),
    )
}

PROFILE_NAMES = tuple(PROFILES)


def find_profile(name: str) -> LensProfile:
    """The profile called ``name`` (one of :data:`PROFILE_NAMES`)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown lens_profile {name!r}; choose one of: {', '.join(PROFILE_NAMES)}") from None


def profile_discs(
    name: str,
    f_number: Optional[float] = None,
    focal_length_mm: Optional[float] = None,
    focus_distance_m: float = 2.0,
    sensor: str = DEFAULT_SENSOR,
    radius_px: float = 24.0,
    user_aperture: Aperture = Aperture(),
) -> dict[str, torch.Tensor]:
    """The discs the lens panel draws: ``{"centre", "corner"}`` (a background point at the frame centre and at
    its top-right corner, 3:2 frame) and ``{"centre front", "corner front"}`` (a foreground point), each a
    ``[K,K]`` float mask 0..1 with peak 1 for a disc of ``radius_px``. ``f_number`` and ``focal_length_mm``
    default to the profile's own (wide open)."""
    p = find_profile(name)
    lens = ThinLens(focal_length_mm or p.focal_length_mm, f_number or p.max_aperture, focus_distance_m, sensor)
    character = p.character or LensCharacter(grain=False)
    aperture = p.aperture or user_aperture
    out = {}
    for label, field in (("centre", (0.0, 0.0)), ("corner", (0.95, -0.95))):
        out[label] = disc_mask(character, aperture, lens, field, radius_px, behind=True)
        out[f"{label} front"] = disc_mask(character, aperture, lens, field, radius_px, behind=False)
    return out


lens_profile = find_profile
