"""Identity adapters recognised from their weights' keys and shapes (never from file names alone).

An adapter file holds two groups, ``image_proj`` (the projection model) and ``ip_adapter`` (per-layer
weights), either nested (the published ``.bin`` files) or flat with those key prefixes (``.safetensors``).

Supported: InstantID (SDXL; Resampler, 70 layers), IP-Adapter FaceID (SD 1.5: 16 layers, SDXL: 70;
MLP projection to 4 tokens, with its LoRA when the file has one), FaceID Plus / PlusV2 (the same, plus a
resampler over CLIP vision features of the face: they need a CLIP vision model), FaceID Portrait (MLP to
16 tokens per face, no LoRA) and FaceID Portrait-unnorm (SDXL; InstantID's Resampler layout, trained on
raw buffalo_l embeddings). Recognised and refused with a reason: plain IP-Adapters.

Portrait-unnorm and InstantID's adapter have the same keys and shapes; as in cubiq's pack, a file whose
name has "unnorm" is Portrait-unnorm.

Plus and PlusV2 files have the same keys and shapes; they differ in how the tokens are combined (PlusV2
adds the resampler's output to the id tokens: the "shortcut"). The published files say which in their
names only (``ip-adapter-faceid-plus_sd15.bin``, ``ip-adapter-faceid-plusv2_sd15.bin``), so a Plus layout
whose file name has "plusv2" is PlusV2, as in the reference implementations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

FAMILY_LAYERS = {16: "SD 1.5", 70: "SDXL"}
FACE_PACK = {
    "instantid": "antelopev2",
    "faceid": "buffalo_l",
    "faceid-portrait": "buffalo_l",
    "faceid-plus": "buffalo_l",
    "faceid-plusv2": "buffalo_l",
    "faceid-portrait-unnorm": "buffalo_l",
}
SUPPORTED = ("instantid", "faceid", "faceid-plus", "faceid-plusv2", "faceid-portrait", "faceid-portrait-unnorm")
FACEID_KINDS = ("faceid", "faceid-plus", "faceid-plusv2", "faceid-portrait", "faceid-portrait-unnorm")
PLUS_KINDS = ("faceid-plus", "faceid-plusv2")
KIND_NAMES = {
    "instantid": "InstantID",
    "faceid": "IP-Adapter FaceID",
    "faceid-portrait": "IP-Adapter FaceID Portrait",
    "faceid-plus": "IP-Adapter FaceID Plus",
    "faceid-plusv2": "IP-Adapter FaceID PlusV2",
    "faceid-portrait-unnorm": "IP-Adapter FaceID Portrait-unnorm",
    "ip-adapter": "IP-Adapter (CLIP image)",
}
# the CLIP vision model FaceID Plus / PlusV2 were trained with (laion/CLIP-ViT-H-14-laion2B-s32B-b79K)
CLIP_VISION_FILE = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"


class AdapterError(ValueError):
    """An adapter file that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class AdapterLayout:
    """What an adapter file is, read from its keys and shapes.

    kind: "instantid", "faceid", "faceid-portrait", "faceid-plus", "faceid-plusv2", "ip-adapter".
    layers: how many cross-attention layers it patches; hidden: their widths in processor order.
    token_width: the width of its identity tokens; tokens: how many per face; lora_rank: FaceID's
    in-file LoRA rank (None without one); face_pack: the InsightFace pack it was trained with.
    """

    kind: str
    layers: int
    hidden: tuple[int, ...]
    token_width: int
    tokens: int
    lora_rank: int | None
    face_pack: str | None

    @property
    def family(self) -> str:
        """ "SD 1.5" or "SDXL" by the published layer count, else a description of the layout."""
        return FAMILY_LAYERS.get(self.layers, f"a UNet with {self.layers} cross-attention layers")

    def describe(self) -> str:
        lora = f", LoRA rank {self.lora_rank}" if self.lora_rank else ""
        name = KIND_NAMES.get(self.kind, self.kind)
        return (
            f"{name} for {self.family} ({self.tokens} tokens of width {self.token_width}, "
            f"{self.layers} cross-attention layers{lora})"
        )


def split_groups(sd: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(image_proj, ip_adapter)`` from a nested or a flat (prefixed) state dict."""
    if isinstance(sd.get("image_proj"), dict) and isinstance(sd.get("ip_adapter"), dict):
        return dict(sd["image_proj"]), dict(sd["ip_adapter"])
    proj: dict[str, torch.Tensor] = {}
    ip: dict[str, torch.Tensor] = {}
    # the published flat form, and the training script's (tencent-ailab's tutorial_train: the adapter's
    # ModuleList as "adapter_modules", numbered as "ip_adapter")
    for proj_prefix, ip_prefix in (("image_proj.", "ip_adapter."), ("image_proj_model.", "adapter_modules.")):
        proj = {k[len(proj_prefix) :]: v for k, v in sd.items() if k.startswith(proj_prefix)}
        ip = {k[len(ip_prefix) :]: v for k, v in sd.items() if k.startswith(ip_prefix)}
        if proj and ip:
            break
    if not proj or not ip:
        raise AdapterError(
            "the file is not an IP-Adapter / InstantID adapter: it has no 'image_proj' and 'ip_adapter' (or "
            "'image_proj_model' and 'adapter_modules') "
            f"weights (first keys: {', '.join(list(sd)[:4])})"
        )
    return proj, ip


def is_plusv2_name(name: str) -> bool:
    """Whether a FaceID Plus file's name says PlusV2 ("plusv2", "plus_v2", "plus-v2", any case)."""
    low = name.lower().replace("_", "").replace("-", "").replace(" ", "")
    return "plusv2" in low


def detect_layout(
    image_proj: dict[str, torch.Tensor], ip_adapter: dict[str, torch.Tensor], name: str = ""
) -> AdapterLayout:
    """Recognise an adapter from its two weight groups (``name``, the file name, only tells FaceID PlusV2
    from Plus, whose weights have the same layout)."""
    ns = sorted(int(k.split(".")[0]) for k in ip_adapter if k.endswith(".to_k_ip.weight"))
    if not ns:
        raise AdapterError("the adapter's 'ip_adapter' group has no to_k_ip weights")
    hidden = tuple(int(ip_adapter[f"{n}.to_k_ip.weight"].shape[0]) for n in ns)
    token_width = int(ip_adapter[f"{ns[0]}.to_k_ip.weight"].shape[1])
    lora_key = next((k for k in ip_adapter if k.endswith("to_q_lora.down.weight")), None)
    lora_rank = int(ip_adapter[lora_key].shape[0]) if lora_key else None
    face_pack = None
    if "proj.3.weight" in image_proj:
        kind, tokens = "ip-adapter", 0  # full-face / plain IP-Adapter (CLIP image embeddings)
    elif "perceiver_resampler.proj_in.weight" in image_proj:
        width = int(image_proj["norm.weight"].shape[0])
        tokens = int(image_proj["proj.2.weight"].shape[0]) // width
        out = int(image_proj["perceiver_resampler.proj_out.weight"].shape[0])
        if width != token_width or out != token_width:
            raise AdapterError(
                f"inconsistent adapter: projection width {width}, resampler output {out}, attention layers "
                f"take {token_width}"
            )
        kind = "faceid-plusv2" if is_plusv2_name(name) else "faceid-plus"
    elif "latents" in image_proj and "proj_in.weight" in image_proj:
        tokens = int(image_proj["latents"].shape[1])
        if int(image_proj["proj_in.weight"].shape[1]) != 512:
            kind = "ip-adapter"  # IP-Adapter Plus: a resampler over CLIP image features
        else:
            kind = "faceid-portrait-unnorm" if "unnorm" in name.lower() else "instantid"
            if int(image_proj["proj_out.weight"].shape[0]) != token_width:
                raise AdapterError(
                    f"inconsistent adapter: the Resampler gives {image_proj['proj_out.weight'].shape[0]}-wide "
                    f"tokens, the attention layers take {token_width}"
                )
    elif "proj.0.weight" in image_proj and "proj.2.weight" in image_proj and "norm.weight" in image_proj:
        width = int(image_proj["norm.weight"].shape[0])
        tokens = int(image_proj["proj.2.weight"].shape[0]) // width
        if width != token_width:
            raise AdapterError(f"inconsistent adapter: projection width {width}, attention layers take {token_width}")
        kind = "faceid" if (lora_rank is not None or tokens == 4) else "faceid-portrait"
    else:
        raise AdapterError(f"unrecognised image projection (keys: {', '.join(sorted(image_proj)[:6])})")
    face_pack = FACE_PACK.get(kind)
    return AdapterLayout(kind, len(ns), hidden, token_width, tokens, lora_rank, face_pack)


def needs_clip_vision_message(layout: AdapterLayout) -> str:
    """The refusal for a FaceID Plus / PlusV2 adapter without a CLIP vision model."""
    return (
        f"this is an {KIND_NAMES[layout.kind]} adapter, which also needs a CLIP vision model: put "
        f"{CLIP_VISION_FILE} (ViT-H-14 laion2B, what FaceID Plus was trained with) into models/clip_vision, "
        "load it with ComfyUI's Load CLIP Vision node and connect it to the clip_vision input; or use the base "
        "FaceID adapter (ip-adapter-faceid_sd15.bin or ip-adapter-faceid_sdxl.bin), which needs none"
    )


def check_supported(layout: AdapterLayout, method: str, clip_vision: bool = False) -> None:
    """Refuse adapters this method cannot drive, saying which file (or input) is needed instead.
    ``clip_vision``: whether a CLIP vision model is connected (FaceID Plus / PlusV2 need one)."""
    want = ("instantid",) if method == "InstantID" else FACEID_KINDS
    if layout.kind in PLUS_KINDS and layout.kind in want and not clip_vision:
        raise AdapterError(needs_clip_vision_message(layout))
    if layout.kind in want:
        return
    if layout.kind == "faceid-portrait-unnorm":
        raise AdapterError(
            "this is IP-Adapter FaceID Portrait-unnorm (InstantID's Resampler layout, but trained on raw buffalo_l "
            "embeddings, without IdentityNet), not InstantID's adapter: choose method 'IP-Adapter FaceID' (with a "
            "buffalo_l identity), or use InstantID's ip-adapter.bin"
        )
    if layout.kind == "instantid" and method != "InstantID":
        raise AdapterError(
            "this file has InstantID's adapter layout (Resampler over raw antelopev2 embeddings): choose method "
            "'InstantID'; if it is FaceID Portrait-unnorm, keep 'unnorm' in its name "
            "(ip-adapter-faceid-portrait_sdxl_unnorm.bin)"
        )
    raise AdapterError(
        f"method {method!r} needs {'an InstantID' if method == 'InstantID' else 'a FaceID'} adapter, "
        f"but the file is {layout.describe()}"
    )


def check_family(layout: AdapterLayout, model_family: str, site_hidden: list[int], context: int) -> None:
    """The adapter must be made for the model's family (SD 1.5 or SDXL: SD 2.x has SD 1.5's layer widths
    but 1024-wide text tokens and was never trained with these adapters), with one layer per
    cross-attention layer of the model, of the same widths, and tokens as wide as the model's text tokens."""
    if model_family not in FAMILY_LAYERS.values():
        raise AdapterError(
            f"the adapter is {layout.describe()}, but the model is {model_family}: InstantID and the IP-Adapter "
            f"FaceID family are made for SD 1.5 and SDXL only; load an SD 1.5 or SDXL checkpoint"
        )
    if layout.layers == len(site_hidden) and list(layout.hidden) == list(site_hidden) and layout.token_width == context:
        return
    raise AdapterError(
        f"the adapter is {layout.describe()}, but the model is {model_family} ({len(site_hidden)} cross-attention "
        f"layers, text width {context}): use an adapter made for {model_family}, or a {layout.family} checkpoint"
    )


def family_hint(name: str) -> Optional[str]:
    """The model family a file name names ("SDXL", "SD 1.5"), or None."""
    low = name.lower()
    if "sdxl" in low or "xl" in low.replace("faceid", ""):
        return "SDXL"
    if "sd15" in low or "sd1.5" in low or "sd_15" in low:
        return "SD 1.5"
    return None


def order_adapter_files(names: list[str], method: str, family: str, clip_vision: bool = False) -> list[str]:
    """The order "auto" tries adapter files for ``method`` ("IP-Adapter FaceID" or "InstantID") on a model
    of ``family``: (FaceID: FaceID files before others; plain before Plus before Portrait, or with a CLIP
    vision model connected (``clip_vision``) Plus before plain) names that name the family, then names
    that name none, then the rest; alphabetical within each."""

    def rank(name: str) -> tuple:
        low = name.lower()
        hint = family_hint(name)
        faceid = method != "IP-Adapter FaceID" or "faceid" in low
        variant = 2 if "portrait" in low else 1 if "plus" in low else 0
        if clip_vision and variant < 2:
            variant = 1 - variant  # Plus first: the CLIP vision model is there for it
        return (not faceid, variant, 0 if hint == family else 1 if hint is None else 2, low)

    return sorted(names, key=rank)


def named_for_instantid(name: str) -> bool:
    """Whether a file name (with its subfolder) names InstantID's IdentityNet: "instantid" or "identitynet"
    in any spelling ("InstantID", "instant_id", "Instant-ID": A1111's ``control_instant_id_sdxl``)."""
    flat = "".join(ch for ch in name.lower() if ch.isalnum())
    return "instantid" in flat or "identitynet" in flat


def order_identitynet_files(names: list[str]) -> list[str]:
    """The ControlNet files "auto" tries as InstantID's IdentityNet: names for InstantID
    (:func:`named_for_instantid`), then the published name ``diffusion_pytorch_model.safetensors`` (in any
    subfolder); alphabetical within each. Other ControlNets are never tried."""
    named = [f for f in names if named_for_instantid(f)]
    published = [f for f in names if f.replace("\\", "/").split("/")[-1].startswith("diffusion_pytorch_model")]
    return sorted(named, key=str.lower) + sorted((f for f in published if f not in named), key=str.lower)
