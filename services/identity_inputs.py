"""The inputs PortraitGenerate and PortraitIdentityApply share (the identity adapter, IdentityNet and
their strengths, the picture size), defined once so the two nodes cannot drift apart."""

from __future__ import annotations

from comfy_api.latest import io

from portraitos.engine.generation.defaults import WIDGET_DEFAULTS

from . import identity_adapters as adapters


def strength(name: str, default: float, tooltip: str, low: float = 0.0, high: float = 1.5) -> io.Float.Input:
    """A strength widget, ``low``..``high`` (default 0..1.5) in steps of 0.05."""
    return io.Float.Input(name, default=default, min=low, max=high, step=0.05, tooltip=tooltip)


IDENTITY_RANGE = (-1.0, 5.0)  # cubiq's IPAdapter weight range (InstantID's: 0..5)
CONTROLNET_RANGE = (0.0, 10.0)  # cubiq's Apply InstantID Advanced cn_strength


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
        strength(
            "controlnet_strength",
            0.8,
            "InstantID's IdentityNet (face position and shape) strength; 0 = off",
            *CONTROLNET_RANGE,
        ),
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


def identity_strength(tooltip: str) -> io.Float.Input:
    """The adapter's strength, cubiq's range: −1 (away from the face) .. 5."""
    return strength("identity_strength", 0.8, tooltip, *IDENTITY_RANGE)


def control_inputs() -> list:
    """The optional controls cubiq's IPAdapter / InstantID nodes offer (optional: saved prompts without
    them keep working, with the previous release's result)."""
    from .identity_adapters import COMBINE_EMBEDS, EMBEDS_SCALING, WEIGHT_TYPES

    def percent(name: str, default: float, tooltip: str) -> io.Float.Input:
        return io.Float.Input(name, default=default, min=0.0, max=1.0, step=0.001, optional=True, tooltip=tooltip)

    return [
        percent("start_at", 0.0, "The adapter runs from this part of sampling (0: the first step)"),
        percent("end_at", 1.0, "… to this part (1: the last step)"),
        percent("controlnet_start", 0.0, "InstantID: IdentityNet runs from this part of sampling"),
        percent("controlnet_end", 1.0, "InstantID: … to this part"),
        io.Float.Input(
            "noise",
            default=0.0,
            min=0.0,
            max=1.0,
            step=0.05,
            optional=True,
            tooltip="Noise on the negative face embedding instead of zeros (cubiq's Apply InstantID uses 0.35): "
            "less burnt-in, more varied faces",
        ),
        io.Combo.Input(
            "weight_type",
            options=list(WEIGHT_TYPES),
            default="linear",
            optional=True,
            tooltip="How the strength is spread over the UNet's layers, as cubiq's IPAdapter weight types",
        ),
        io.Combo.Input(
            "embeds_scaling",
            options=list(EMBEDS_SCALING),
            default="V only",
            optional=True,
            tooltip="Where the strength is applied in the attention, as cubiq's IPAdapter embeds scaling",
        ),
        io.Combo.Input(
            "combine_embeds",
            options=list(COMBINE_EMBEDS),
            default="average",
            optional=True,
            tooltip="An identity of several photos: average their embeddings, cubiq's norm average, or concat "
            "(each photo's tokens side by side; FaceID Portrait's way)",
        ),
        io.Image.Input(
            "image_kps",
            optional=True,
            tooltip="InstantID: a picture whose face's keypoints pose the portrait (drawn at that picture's size; "
            "use your latent's size) instead of the identity's own face",
        ),
        io.Mask.Input(
            "attn_mask",
            optional=True,
            tooltip="Where the identity applies (white); several people: one apply node per person and mask",
        ),
        io.Latent.Input(
            "latent",
            optional=True,
            tooltip="InstantID: your empty latent, so the keypoint picture is drawn at its size (width and height "
            "are then ignored)",
        ),
    ]
