"""Lighting setups: presets, re-lighting a photo with a key and an ambient illuminant, and the
LIGHTING value that tells LensBokeh what colour rebuilt highlights take.

Images are ``[B,H,W,3]`` sRGB 0..1; all processing is in linear light. The photo is assumed white
balanced for D65; a key light of another CCT is applied as a Bradford adaptation from D65 to that
illuminant (a 3200 K key warms, a 6500 K key leaves neutral greys neutral).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import torch
import torch.nn.functional as F

from ..colour import linear_to_srgb, luminance, srgb_to_linear
from ..depth.matte import subject_weight_from_depth
from .illuminants import D65_XY, bradford_matrix, cct_to_xy, estimate_illuminant_xy, xy_to_cct, xy_to_linear_rgb
from .presets import DEFAULT_PRESET, PRESETS, LightingPreset
from .setup import LightingSetup


@dataclass(frozen=True)
class LightingParams:
    """A preset with the user's overrides applied (0 temperature = keep the preset's)."""

    preset: str = DEFAULT_PRESET
    key_temperature_k: float = 0.0
    ambient_temperature_k: float = 0.0
    tint: float = 0.0
    intensity: float = 1.0
    contrast: float = 1.0
    key_direction_deg: float = 0.0
    key_strength: float = 0.0
    strength: float = 1.0


def resolve_setup(params: LightingParams, image: Optional[torch.Tensor] = None) -> tuple[LightingPreset, LightingSetup]:
    """The preset after overrides and the LIGHTING value it produces (``auto`` needs ``image``)."""
    if params.preset not in PRESETS:
        raise ValueError(f"unknown lighting preset {params.preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[params.preset]
    meta = {}
    if p.name == "auto":
        if image is None:
            raise ValueError("the auto preset needs an image to estimate the illuminant from")
        xy = estimate_illuminant_xy(srgb_to_linear(image[..., :3]))
        cct = float(min(max(xy_to_cct(*xy), 1700.0), 20000.0))
        p = replace(p, key_cct_k=cct, ambient_cct_k=cct)
        meta["estimated_xy"] = [round(xy[0], 4), round(xy[1], 4)]
    if params.key_temperature_k > 0:
        p = replace(p, key_cct_k=params.key_temperature_k)
    if params.ambient_temperature_k > 0:
        p = replace(p, ambient_cct_k=params.ambient_temperature_k)
    p = replace(
        p,
        key_tint=p.key_tint + params.tint,
        ambient_tint=p.ambient_tint + params.tint,
        intensity=p.intensity * params.intensity,
        contrast=p.contrast * params.contrast,
    )
    key_xy = cct_to_xy(p.key_cct_k, p.key_tint)
    amb_xy = cct_to_xy(p.ambient_cct_k, p.ambient_tint)
    key_rgb = xy_to_linear_rgb(*key_xy)
    setup = LightingSetup(
        name=p.name,
        key_cct_k=round(p.key_cct_k, 1),
        ambient_cct_k=round(p.ambient_cct_k, 1),
        key_rgb=key_rgb,
        ambient_rgb=xy_to_linear_rgb(*amb_xy),
        highlight_rgb=key_rgb,
        highlight_intensity=p.highlight_intensity * p.intensity,
        meta={"key_xy": [round(v, 5) for v in key_xy], "ambient_xy": [round(v, 5) for v in amb_xy], **meta},
    )
    return p, setup


def relight(
    image: torch.Tensor,
    params: LightingParams,
    depth_m: Optional[torch.Tensor] = None,
    subject_mask: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, LightingSetup]:
    """Apply a lighting setup to ``image [B,H,W,3]``; returns the new image and its LIGHTING.

    Key illuminant on the subject (``subject_mask``, else from ``depth_m``, else everywhere),
    ambient on the background. ``key_strength`` > 0 adds a directional (Lambert) key from depth normals.
    """
    preset, setup = resolve_setup(params, image)
    b, H, W, _ = image.shape
    lin = srgb_to_linear(image[..., :3]).to(torch.float32)
    if preset.name == "auto":
        return image[..., :3].clone(), setup
    key_m = bradford_matrix(D65_XY, tuple(setup.meta["key_xy"])).to(lin.device)
    amb_m = bradford_matrix(D65_XY, tuple(setup.meta["ambient_xy"])).to(lin.device)
    key = lin @ key_m.T * preset.intensity
    amb = lin @ amb_m.T * preset.ambient_level
    if subject_mask is not None:
        w = subject_mask.to(lin.dtype)
        if w.dim() == 2:
            w = w.unsqueeze(0)
        if w.shape[1:] != (H, W):
            w = F.interpolate(w.unsqueeze(1), size=(H, W), mode="bilinear", align_corners=False).squeeze(1)
        w = w.expand(b, H, W) if w.shape[0] == 1 else w
    elif depth_m is not None:
        d = (
            depth_m
            if depth_m.shape[1:] == (H, W)
            else F.interpolate(depth_m.unsqueeze(1), size=(H, W), mode="nearest").squeeze(1)
        )
        w = subject_weight_from_depth(d.expand(b, H, W) if d.shape[0] == 1 else d)
        if params.key_strength > 0:
            shade = lambert_shading(d.expand(b, H, W) if d.shape[0] == 1 else d, params.key_direction_deg)
            key = key * (1 - params.key_strength + params.key_strength * shade).unsqueeze(-1)
    else:
        w = torch.ones(b, H, W, dtype=lin.dtype, device=lin.device)
    out = w.unsqueeze(-1) * key + (1 - w.unsqueeze(-1)) * amb
    if preset.contrast != 1.0:
        y = luminance(out).clamp_min(1e-6)
        y_new = 0.18 * (y / 0.18) ** preset.contrast
        # compress only above mid grey so that the contrast curve does not clip midtones
        y_new = torch.where(y > 0.18, 0.18 + (1 - 0.18) * torch.tanh((y_new - 0.18) / (1 - 0.18)), y_new)
        out = out * (y_new / y).unsqueeze(-1)
    out = params.strength * out + (1 - params.strength) * lin
    return linear_to_srgb(out).to(image.dtype), setup


def lambert_shading(depth_m: torch.Tensor, direction_deg: float, elevation_deg: float = 35.0) -> torch.Tensor:
    """Lambert factor (0..~1.3, 1 for a surface facing the camera head-on) of a key light from
    ``direction_deg`` (0 = from the right, 90 = from above) at ``elevation_deg`` off the view axis."""
    z = depth_m.unsqueeze(1)
    scale = depth_m.mean(dim=(1, 2), keepdim=True).unsqueeze(1) / max(depth_m.shape[-1], 1) * 2.0
    gx = (F.pad(z, (1, 1, 0, 0), mode="replicate")[..., 2:] - F.pad(z, (1, 1, 0, 0), mode="replicate")[..., :-2]) / 2
    gy = (
        F.pad(z, (0, 0, 1, 1), mode="replicate")[..., 2:, :] - F.pad(z, (0, 0, 1, 1), mode="replicate")[..., :-2, :]
    ) / 2
    n = torch.cat([-gx / scale, gy / scale, -torch.ones_like(z)], 1)  # facing the camera: (0,0,-1)
    n = n / n.norm(dim=1, keepdim=True)
    a, e = math.radians(direction_deg), math.radians(elevation_deg)
    light = torch.tensor(
        [math.cos(a) * math.sin(e), math.sin(a) * math.sin(e), -math.cos(e)], dtype=n.dtype, device=n.device
    )
    lam = (n * light.view(1, 3, 1, 1)).sum(1).clamp_min(0)
    return (lam / math.cos(e)).squeeze(1)
