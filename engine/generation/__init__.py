"""Identity-preserving portrait generation, the plain-torch half: style presets and prompts, the
"keep face" framing and mask, adapter recognition from weights, the adapters' projection models and
per-layer weights, and InstantID's keypoint image. ComfyUI-side sampling lives in the nodes."""

from .adapters import (
    FACE_PACK,
    AdapterError,
    AdapterLayout,
    check_family,
    check_supported,
    detect_layout,
    split_groups,
)
from .defaults import METHODS, SPEEDS, effective_settings, method_for
from .ip_layers import IPLayer, Site, build_ip_layers, cross_attention_sites, lora_pairs
from .keep_face import FramedPhoto, composite, frame_photo, keep_mask
from .keypoints import draw_keypoints, place_keypoints
from .projection import FaceIDPlusProjection, FacePerceiverResampler, MLPProjection, Resampler, build_projection
from .prompts import NEGATIVE, STYLES, PortraitPrompt, build_prompts, subject

__all__ = [
    "FACE_PACK",
    "AdapterError",
    "AdapterLayout",
    "check_family",
    "check_supported",
    "detect_layout",
    "split_groups",
    "METHODS",
    "SPEEDS",
    "effective_settings",
    "method_for",
    "IPLayer",
    "Site",
    "build_ip_layers",
    "cross_attention_sites",
    "lora_pairs",
    "FramedPhoto",
    "composite",
    "frame_photo",
    "keep_mask",
    "draw_keypoints",
    "place_keypoints",
    "FaceIDPlusProjection",
    "FacePerceiverResampler",
    "MLPProjection",
    "Resampler",
    "build_projection",
    "NEGATIVE",
    "STYLES",
    "PortraitPrompt",
    "build_prompts",
    "subject",
]
