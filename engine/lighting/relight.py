"""Lighting setups: presets, re-lighting a photo with a key and an ambient illuminant, and the
LIGHTING value that tells LensBokeh what colour rebuilt highlights take.

Images are ``[B,H,W,3]`` sRGB 0..1; all processing is in linear light. The photo is assumed white
balanced for D65; a key light of another CCT is applied as a Bradford adaptation from D65 to that
illuminant (a 3200 K key warms, a 6500 K key leaves neutral greys neutral).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Optional

import torch
import torch.nn.functional as F

from ..core.batch import common_batch, repeat_to
from ..core.colour import linear_to_srgb, luminance, srgb_to_linear
from ..core.finite import finite_pixels
from ..core.progress import Progress
from ..core.threads import fair_threads
from .illuminants import D65_XY, bradford_matrix, cct_to_xy, estimate_illuminant_xy, xy_to_cct, xy_to_linear_rgb
from .key_weight import key_weight
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
    progress: Progress | Callable[[int, int], None] | None = None,
    check_interrupt: Optional[Callable[[], None]] = None,
    people_alpha: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, LightingSetup]:
    """Apply a lighting setup to ``image [B,H,W,3|4]``; returns the new image and its LIGHTING.

    Key illuminant on the subject (``subject_mask``, else from ``depth_m``, else everywhere),
    ambient on the background, the split feathered along the outline and with depth (``key_weight``);
    without a mask, ``people_alpha [B|1,h,w]`` 0..1 (the people's soft alpha a portrait prior's depth
    carries) gives the people the key by their alpha, so hair takes it strand by strand, without a rim.
    ``key_strength`` > 0 adds a directional (Lambert) key from the normals of ``depth_m`` (with or
    without a mask; without depth it cannot, and says so in a warning).
    Depth ``[B|1,h,w]`` metres and mask ``[B|1,h,w]`` 0..1 are resized to the image; a batch of 1 serves
    every image. An alpha channel (4th) is passed through unchanged. The colour work runs in bands of
    rows (bounded memory at 8K), with Cancel honoured and ``progress`` moved per band
    (a :class:`Progress`, or a ``(done, total)`` callback with ``check_interrupt()`` beside it).
    """
    if image.dim() != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image must be [B,H,W,3] or [B,H,W,4], got shape {tuple(image.shape)}")
    if depth_m is not None and depth_m.dim() == 2:
        depth_m = depth_m.unsqueeze(0)
    if subject_mask is not None and subject_mask.dim() == 2:
        subject_mask = subject_mask.unsqueeze(0)
    b = common_batch(
        image=image.shape[0],
        depth=None if depth_m is None else depth_m.shape[0],
        subject_mask=None if subject_mask is None else subject_mask.shape[0],
    )
    image = finite_pixels(repeat_to(image, b, "image"), "image")
    if subject_mask is not None:
        subject_mask = finite_pixels(subject_mask, "subject_mask")
    alpha = image[..., 3:] if image.shape[-1] == 4 else None
    preset, setup = resolve_setup(params, image)
    _, H, W, _ = image.shape
    if preset.name == "auto":
        return image.clone(), setup
    dev = image.device
    key_m = (bradford_matrix(D65_XY, tuple(setup.meta["key_xy"])).to(dev) * preset.intensity).T.contiguous()
    amb_m = (bradford_matrix(D65_XY, tuple(setup.meta["ambient_xy"])).to(dev) * preset.ambient_level).T.contiguous()
    d = None
    if depth_m is not None:
        d = depth_m.to(device=dev, dtype=torch.float32)
        if d.shape[1:] != (H, W):
            d = F.interpolate(d.unsqueeze(1), size=(H, W), mode="nearest").squeeze(1)
        d = repeat_to(d, b, "depth")
    if subject_mask is not None:
        subject_mask = subject_mask.to(device=dev, dtype=torch.float32)
        if subject_mask.shape[1:] != (H, W):
            subject_mask = F.interpolate(
                subject_mask.unsqueeze(1), size=(H, W), mode="bilinear", align_corners=False
            ).squeeze(1)
        subject_mask = repeat_to(subject_mask, b, "subject_mask")
    people = None
    if people_alpha is not None and subject_mask is None:
        people = finite_pixels(people_alpha.unsqueeze(0) if people_alpha.dim() == 2 else people_alpha, "layer alpha")
        people = people.to(device=dev, dtype=torch.float32)
        if people.shape[1:] != (H, W):
            people = F.interpolate(people.unsqueeze(1), size=(H, W), mode="bilinear", align_corners=False).squeeze(1)
        people = repeat_to(people, b, "layer alpha")
    w = key_weight(H, W, d, subject_mask, people)  # None: key everywhere
    key_gain = None
    if params.key_strength > 0:
        if d is None:
            warnings.warn(
                f"key_strength {params.key_strength:g} has no effect without depth: connect a DEPTH to shade "
                "the subject from key_direction_deg",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            key_gain = 1 - params.key_strength + params.key_strength * lambert_shading(d, params.key_direction_deg)
    out = torch.empty(b, H, W, 3, dtype=image.dtype, device=dev)
    rows = max(1, BAND_PIXELS // max(W, 1))
    bands = [(i, y0, min(H, y0 + rows)) for i in range(b) for y0 in range(0, H, rows)]
    bar = Progress.of(progress, check_interrupt, total=len(bands))
    # as many threads as there are idle cores (engine.core.threads): a busy machine slows the work in
    # proportion, not by torch's threads waiting for each other
    with fair_threads(dev):
        for n, (i, y0, y1) in enumerate(bands):
            bar.check()
            lin = srgb_to_linear(image[i, y0:y1, :, :3]).to(torch.float32)
            key = lin @ key_m
            if key_gain is not None:
                key = key * key_gain[i, y0:y1].unsqueeze(-1)
            amb = lin @ amb_m
            mixed = key if w is None else torch.lerp(amb, key, w[i, y0:y1].unsqueeze(-1))
            out[i, y0:y1] = linear_to_srgb(_finish(mixed, lin, preset.contrast, params.strength)).to(image.dtype)
            bar.advance(n + 1, len(bands))
    if alpha is not None:
        out = torch.cat([out, alpha], dim=-1)
    return out, setup


BAND_PIXELS = 1 << 21  # about 2 MP of colour work at a time


def _finish(out: torch.Tensor, lin: torch.Tensor, contrast: float, strength: float) -> torch.Tensor:
    """The preset's contrast curve around mid grey (linear light, ``[...,3]``), then the ``strength`` mix
    with the original ``lin``."""
    if contrast != 1.0:
        y = luminance(out).clamp_min(1e-6)
        y_new = 0.18 * (y / 0.18) ** contrast
        # compress only above mid grey so that the contrast curve does not clip midtones
        y_new = torch.where(y > 0.18, 0.18 + (1 - 0.18) * torch.tanh((y_new - 0.18) / (1 - 0.18)), y_new)
        out = out * (y_new / y).unsqueeze(-1)
    return strength * out + (1 - strength) * lin


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
