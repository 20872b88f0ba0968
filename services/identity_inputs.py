"""The inputs PortraitGenerate and PortraitIdentityApply share (the identity adapter, IdentityNet and
their strengths, the picture size), defined once so the two nodes cannot drift apart."""

from __future__ import annotations

from comfy_api.latest import io

from portraitos.engine.generation.defaults import WIDGET_DEFAULTS

from . import identity_adapters as adapters


def strength(name: str, default: float, tooltip: str) -> io.Float.Input:
    """A strength widget, 0..1.5 in steps of 0.05."""
    return io.Float.Input(name, default=default, min=0.0, max=1.5, step=0.05, tooltip=tooltip)


def size(name: str, tooltip: str) -> io.Int.Input:
    """``width`` or ``height`` in pixels, 64..4096 in steps of 8 (the latent's 1/8)."""
    return io.Int.Input(name, default=WIDGET_DEFAULTS[name], min=64, max=4096, step=8, tooltip=tooltip)


def adapter_files() -> list:
    """The adapter and IdentityNet file choices and their strengths, in the nodes' order."""
    return [
        io.Combo.Input(
            "adapter_file",
            options=["auto", *adapters.all_adapter_files()],
            default="auto",
            tooltip="models/ipadapter (FaceID) or models/instantid (InstantID); auto: by method and family",
        ),
        io.Combo.Input(
            "controlnet_file",
            options=["auto", *adapters.controlnet_files()],
            default="auto",
            tooltip="InstantID's IdentityNet in models/controlnet; auto: the one ControlNet named for "
            "InstantID or with its published name (diffusion_pytorch_model.safetensors) that fits the model",
        ),
        strength("controlnet_strength", 0.8, "InstantID's IdentityNet (face position and shape) strength; 0 = off"),
        strength("lora_strength", 0.6, "Strength of FaceID's LoRA (in the adapter or in models/loras)"),
    ]


def clip_vision_inputs() -> list:
    """FaceID Plus / PlusV2's CLIP vision model and PlusV2's shortcut scale (optional: added after
    release, so saved prompts without them keep working)."""
    return [
        io.ClipVision.Input(
            "clip_vision",
            optional=True,
            tooltip="IP-Adapter FaceID Plus / PlusV2: the CLIP vision model from Load CLIP Vision "
            "(CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors in models/clip_vision); ignored by the other adapters",
        ),
        io.Float.Input(
            "shortcut_scale",
            default=1.0,
            min=0.0,
            max=5.0,
            step=0.05,
            optional=True,
            tooltip="FaceID PlusV2: weight of the CLIP face details added to the identity tokens (0: the "
            "identity tokens alone); ignored by the other adapters",
        ),
    ]
