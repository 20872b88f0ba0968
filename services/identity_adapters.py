"""ComfyUI side of identity adapters: finding and loading adapter / ControlNet files, and patching a
**clone** of the user's model through ComfyUI's attention-replacement patches, weight patches (LoRA)
and additional models (so ComfyUI moves the adapter's weights with the UNet).

The input model is never mutated: everything is registered on ``model.clone()``.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import comfy.controlnet
import comfy.ldm.modules.attention as attention
import comfy.lora
import comfy.model_management as mm
import comfy.model_patcher
import comfy.utils
import folder_paths
import torch
import torch.nn.functional as F

from portraitos.engine.generation import (
    FACE_PACK,
    AdapterError,
    AdapterLayout,
    FaceIDPlusProjection,
    Site,
    build_ip_layers,
    build_projection,
    check_family,
    check_supported,
    cross_attention_sites,
    detect_layout,
    lora_pairs,
    split_groups,
)
from portraitos.engine.generation.adapters import (
    CLIP_VISION_FILE,
    PLUS_KINDS,
    family_hint,
    named_for_instantid,
    needs_clip_vision_message,
    order_adapter_files,
    order_identitynet_files,
)
from portraitos.engine.generation.defaults import FACEID, INSTANTID
from portraitos.engine.generation.keypoints import draw_keypoints, place_keypoints
from portraitos.engine.generation.photo_choice import choose_identity_face
from portraitos.engine.identity import Identity

from . import model_folders  # noqa: F401  (registers models/instantid and models/ipadapter)
from .load_errors import load_error_text
from .model_cache import CACHE
from .model_sources import GENERATION_SOURCES

ADAPTER_FOLDERS = {"InstantID": "instantid", "IP-Adapter FaceID": "ipadapter"}
EXTENSIONS = (".safetensors", ".bin", ".pth", ".pt")
README = "see docs/generation.md in the pack"
# for errors: what to put where, keyed by method (and "controlnet")
WHERE = {key: f"{src.name} from {src.page} ({src.size}) into {src.folder}" for key, src in GENERATION_SOURCES.items()}


def adapter_files(method: str) -> list[str]:
    folder = ADAPTER_FOLDERS[method]
    return sorted(f for f in folder_paths.get_filename_list(folder) if f.lower().endswith(EXTENSIONS))


def all_adapter_files() -> list[str]:
    return sorted({f for m in ADAPTER_FOLDERS for f in adapter_files(m)})


def controlnet_files() -> list[str]:
    return sorted(f for f in folder_paths.get_filename_list("controlnet") if f.lower().endswith(EXTENSIONS))


def model_family(model) -> str:
    """ "SDXL", "SD 1.5" or the model configuration's class name."""
    from comfy import supported_models

    config = model.model.model_config
    if isinstance(config, supported_models.SDXL):
        return "SDXL"
    if isinstance(config, supported_models.SD15):
        return "SD 1.5"
    return type(config).__name__


def resolve_adapter(method: str, choice: str, family: str) -> Path:
    """The adapter file for ``method``: the one chosen, or with "auto" the only one in its folder or the
    one whose name names the model family. A missing file says where it goes and where it is published."""
    folder = ADAPTER_FOLDERS[method]
    if choice and choice != "auto":
        path = folder_paths.get_full_path(folder, choice)
        if path is None:
            raise AdapterError(f"adapter_file {choice!r} is not in models/{folder}/; put {WHERE[method]} ({README})")
        return Path(path)
    files = adapter_files(method)
    if method == "IP-Adapter FaceID":
        files = [f for f in files if "faceid" in f.lower()] or files
        plain = [f for f in files if not any(s in f.lower() for s in ("plus", "portrait"))]
        files = plain or files
    if not files:
        where = ", ".join(folder_paths.get_folder_paths(folder))
        raise AdapterError(f"no {method} adapter found in models/{folder}/ ({where}): put {WHERE[method]} ({README})")
    matching = [f for f in files if family_hint(f) in (family, None)]
    pick = (matching or files)[0]
    return Path(folder_paths.get_full_path(folder, pick))


def adapter_candidates(method: str, family: str, clip_vision: bool = False) -> list[str]:
    """The files "auto" tries for ``method``, in this order: (IP-Adapter FaceID: FaceID files before
    others, plain before Plus before Portrait; Plus first when a CLIP vision model is connected) names that
    name the model family, then names that name none, then the rest; alphabetical within each."""

    return order_adapter_files(adapter_files(method), method, family, clip_vision)


def load_auto_adapter(
    method: str, family: str, model, clip_vision: bool = False
) -> tuple[LoadedAdapter, list[Site], list[str]]:
    """ "auto": the first of :func:`adapter_candidates` that loads and fits ``model`` (FaceID Plus only
    with ``clip_vision``), its sites, and one line per candidate skipped before it (name: why).
    AdapterError when none is usable, naming each."""
    folder = ADAPTER_FOLDERS[method]
    candidates = adapter_candidates(method, family, clip_vision)
    if not candidates:
        where = ", ".join(folder_paths.get_folder_paths(folder))
        raise AdapterError(f"no {method} adapter found in models/{folder}/ ({where}): put {WHERE[method]} ({README})")
    skipped: list[str] = []
    for name in candidates:
        try:
            adapter = load_adapter(Path(folder_paths.get_full_path(folder, name)))
            return adapter, check_adapter(adapter, method, model, clip_vision), skipped
        except AdapterError as e:
            skipped.append(f"{name}: {e}")
    raise AdapterError(
        f"no usable {method} adapter in models/{folder}/ (tried in order: " + "; ".join(skipped) + f"); put "
        f"{WHERE[method]} ({README})"
    )


def controlnet_candidates() -> list[str]:
    """The files "auto" considers as InstantID's IdentityNet, in this order: names with "instantid" or
    "identitynet", then the published file name ``diffusion_pytorch_model.safetensors`` (straight in
    ``models/controlnet/`` or in any subfolder); alphabetical within each. Other ControlNets are never tried."""
    return order_identitynet_files(controlnet_files())


HINT_KEYS = ("controlnet_cond_embedding.conv_in.weight", "input_hint_block.0.weight")  # diffusers, ldm
UNION_KEYS = ("task_embedding", "control_add_embedding.linear_1.weight", "transformer_layes.0.attn.in_proj_weight")


def identitynet_layout_problem(path: Path, context: int, sites: list[Site] | None = None) -> str | None:
    """Why the file cannot be an IdentityNet for a UNet whose text tokens are ``context`` wide (and whose
    cross-attention sites are ``sites``), read from its safetensors header only (no weights loaded), or
    None. An IdentityNet is a full ControlNet (diffusers or ldm names) with a 3-channel hint, cross-attention
    over ``context``-wide tokens, and as many transformer blocks as the UNet's encoder and middle block
    (SDXL: 34); ControlNet Union, Control-LoRA and the reduced "small" / "mid" ControlNets are not. Files
    other than ``.safetensors`` cannot be checked without loading them and pass."""
    if path.suffix.lower() != ".safetensors":
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:  # type: ignore[attr-defined]  # the stub lacks it
            keys = list(f.keys())
            hint = next((k for k in HINT_KEYS if k in keys), None)
            if hint is None:
                return "not a ControlNet (no controlnet_cond_embedding / input_hint_block weights)"
            hint_channels = f.get_slice(hint).get_shape()[1]
            to_k = next((k for k in keys if k.endswith("attn2.to_k.weight")), None)
            width = f.get_slice(to_k).get_shape()[1] if to_k else None
    except Exception as e:
        return f"could not be read ({type(e).__name__}: {e})"
    if any(k.startswith(UNION_KEYS) for k in keys):
        return "a ControlNet Union (several control types in one), not InstantID's IdentityNet"
    if any("lora" in k.lower() for k in keys):
        return "a Control-LoRA (low-rank ControlNet), not InstantID's IdentityNet"
    if hint_channels != 3:
        return f"a ControlNet with a {hint_channels}-channel hint (IdentityNet takes the 3-channel keypoint image)"
    if width != context:
        return f"a ControlNet for {width}-wide text tokens, the model's are {context} wide (another model family)"
    if sites is not None:
        want = sum(1 for s in sites if s.key[0] in ("input", "middle"))
        have = sum(1 for k in keys if k.endswith("attn2.to_k.weight"))
        if have != want:
            return (
                f"a ControlNet with {have} transformer blocks, the UNet's encoder and middle block have {want} "
                "(IdentityNet is a full-size ControlNet: this one is a reduced 'small' / 'mid' kind or for another "
                "model)"
            )
    return None


def pick_identitynet(context: int, sites: list[Site] | None = None) -> tuple[str, list[str]]:
    """ "auto": the one file of :func:`controlnet_candidates` that can be the IdentityNet of a model with
    ``context``-wide text tokens (and ``sites``, see :func:`identitynet_layout_problem`; files named for
    InstantID before files with the published name), and one line per candidate ruled out (name: why).
    AdapterError when none is left, or when two are equally likely (two named, or no named one and two
    published names): the user chooses in controlnet_file."""
    candidates = controlnet_candidates()
    if not candidates:
        where = ", ".join(folder_paths.get_folder_paths("controlnet"))
        raise AdapterError(
            f"InstantID needs its IdentityNet ControlNet and none was found in models/controlnet/ ({where}) named "
            f"with 'instantid' or as published (diffusion_pytorch_model.safetensors): put {WHERE['controlnet']}, "
            f"or choose the file in controlnet_file ({README})"
        )
    skipped: list[str] = []
    usable: list[str] = []
    for name in candidates:
        problem = identitynet_layout_problem(Path(folder_paths.get_full_path("controlnet", name)), context, sites)
        if problem:
            skipped.append(f"{name}: {problem}")
        else:
            usable.append(name)
    if not usable:
        raise AdapterError("no usable IdentityNet in models/controlnet/ (tried in order: " + "; ".join(skipped) + ")")
    named = [n for n in usable if named_for_instantid(n)]
    group = named or usable
    if len(group) > 1:
        raise AdapterError(
            f"{len(group)} files in models/controlnet/ could be InstantID's IdentityNet: {', '.join(group)}; "
            "choose the right one in controlnet_file (or rename it with 'instantid' in its name)"
        )
    return group[0], skipped


def load_auto_identitynet(model=None) -> tuple[Any, list[str]]:
    """ "auto": the IdentityNet :func:`pick_identitynet` finds for ``model`` (SDXL text width when no model
    is given), loaded, and one line per candidate ruled out."""
    sites = unet_sites(model) if model is not None else None
    context = sites[0].context if sites else 2048
    name, skipped = pick_identitynet(context, sites)
    return load_identitynet(Path(folder_paths.get_full_path("controlnet", name))), skipped


def resolve_controlnet(choice: str) -> Path:
    """The ControlNet file chosen in controlnet_file (not "auto": see :func:`pick_identitynet`)."""
    path = folder_paths.get_full_path("controlnet", choice)
    if path is None:
        raise AdapterError(f"controlnet_file {choice!r} is not in models/controlnet/; put {WHERE['controlnet']}")
    return Path(path)


@dataclass
class LoadedAdapter:
    path: Path
    layout: AdapterLayout
    projection: Optional[torch.nn.Module]  # None for adapters whose face tokens need no projection
    layers: torch.nn.ModuleDict
    ip_sd: dict[str, torch.Tensor]  # FaceID's in-file LoRA weights only (the layers hold to_k_ip / to_v_ip)
    patcher: comfy.model_patcher.ModelPatcher


CACHE_KIND = "identity adapter"
IDENTITYNET_KIND = "identitynet"
KEEP_ADAPTERS = 2  # e.g. InstantID and a FaceID adapter in one graph; older ones are dropped
KEEP_IDENTITYNETS = 1


def load_adapter(path: Path) -> LoadedAdapter:
    """Load (once per file version) an adapter through ComfyUI's safe loader (``.bin`` files are
    unpickled weights-only), recognise it from its keys and shapes, build its modules. The cache holds at
    most :data:`KEEP_ADAPTERS` and lets go of one when ComfyUI's model management unloads it (memory
    pressure, "Unload models")."""
    st = path.stat()
    return CACHE.get(
        CACHE_KIND, str(path), lambda: _load_adapter(path), version=(st.st_mtime_ns, st.st_size), keep=KEEP_ADAPTERS
    )


def _release_on_unload(patcher, kind: str, key: str, value) -> None:
    """Drop the cache entry when ComfyUI's model management unloads ``patcher`` (its ``ON_DETACH``)."""
    from comfy.patcher_extension import CallbacksMP

    def release(_patcher, _unpatch_all) -> None:
        CACHE.discard(kind, key, value)

    patcher.add_callback(CallbacksMP.ON_DETACH, release)


def _load_adapter(path: Path) -> LoadedAdapter:
    try:
        sd = comfy.utils.load_torch_file(str(path), safe_load=True)
    except Exception as e:
        raise AdapterError(f"{path.name} could not be read ({load_error_text(e)}); download it again") from None
    proj_sd, ip_sd = split_groups(sd)
    del sd
    layout = detect_layout(proj_sd, ip_sd, path.name)
    projection = (
        build_projection(layout.kind, {k: v.float() for k, v in proj_sd.items()})
        if layout.kind in ("instantid", "faceid", "faceid-portrait", "faceid-portrait-unnorm", *PLUS_KINDS)
        else None
    )
    del proj_sd
    layers = build_ip_layers(ip_sd)  # takes the file's tensors as they are: one copy of the weights
    lora_sd = {k: v for k, v in ip_sd.items() if "_lora." in k}  # only what the layers do not hold
    patcher = comfy.model_patcher.ModelPatcher(
        layers, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device()
    )
    adapter = LoadedAdapter(path, layout, projection, layers, lora_sd, patcher)
    _release_on_unload(patcher, CACHE_KIND, str(path), adapter)
    return adapter


def unet_sites(model) -> list[Site]:
    return cross_attention_sites(model.model.diffusion_model)


def check_adapter(adapter: LoadedAdapter, method: str, model, clip_vision: bool = False) -> list[Site]:
    check_supported(adapter.layout, method, clip_vision)
    sites = unet_sites(model)
    family = model_family(model)
    check_family(adapter.layout, family, [s.hidden for s in sites], sites[0].context if sites else 0)
    if method == "InstantID" and family != "SDXL":
        raise AdapterError(f"InstantID is made for SDXL, but the model is {family}: load an SDXL checkpoint")
    return sites


WEIGHT_TYPES = (
    "linear",
    "ease in",
    "ease out",
    "ease in-out",
    "reverse in-out",
    "weak input",
    "weak output",
    "weak middle",
    "strong middle",
)
EMBEDS_SCALING = ("V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty")
NO_SIGMA = 999999999.9  # what ComfyUI's percent_to_sigma(0) gives: "from the first step"


@dataclass(frozen=True)
class AttentionControls:
    """How the identity term is weighted, as cubiq's IPAdapter / InstantID nodes do at the same settings.

    sigma_start / sigma_end: the term runs while ``sigma_end <= sigma <= sigma_start`` (σ of the current
    step, ComfyUI's ``percent_to_sigma`` of start / end percent). weight_type: one of :data:`WEIGHT_TYPES`,
    over ``layers`` SpatialTransformers (11 on SDXL, 16 on SD 1.5). embeds_scaling: one of
    :data:`EMBEDS_SCALING`. mask: ``[M,H,W]`` float 0..1 over the picture (1: the identity applies), or None.
    """

    sigma_start: float = NO_SIGMA
    sigma_end: float = 0.0
    weight_type: str = "linear"
    embeds_scaling: str = "V only"
    mask: Optional[torch.Tensor] = None
    layers: int = 16

    def weight(self, scale: float, extra_options: dict) -> float:
        """``scale`` for this layer by the weight type (``transformer_index`` and ``block`` of the call)."""
        t, n = extra_options.get("transformer_index", 0), self.layers
        block = (extra_options.get("block") or ("",))[0]
        kind = self.weight_type
        if kind == "ease in":
            return scale * (0.05 + 0.95 * (1 - t / n))
        if kind == "ease out":
            return scale * (0.05 + 0.95 * (t / n))
        if kind == "ease in-out":
            return scale * (0.05 + 0.95 * (1 - abs(t - n / 2) / (n / 2)))
        if kind == "reverse in-out":
            return scale * (0.05 + 0.95 * (abs(t - n / 2) / (n / 2)))
        weak = {"weak input": ("input",), "weak middle": ("middle",), "weak output": ("output",)}
        if block in weak.get(kind, ()) or (kind == "strong middle" and block in ("input", "output")):
            return scale * 0.2
        return scale


def step_sigma(extra_options: dict) -> float:
    """σ of the current step (the first sample's), or :data:`NO_SIGMA` outside sampling."""
    sigmas = extra_options.get("sigmas")
    return float(sigmas.detach().reshape(-1)[0].cpu()) if sigmas is not None else NO_SIGMA


def mask_for_tokens(mask: torch.Tensor, extra_options: dict, seq_len: int, batch: int, width: int) -> torch.Tensor:
    """``mask`` ``[M,H,W]`` resized to the layer's token grid (the latent's aspect at ``seq_len`` tokens),
    one per image of the batch (the last repeated), as ``[batch, seq_len, width]``: cubiq's rule."""
    _, _, oh, ow = extra_options["original_shape"]
    mask_h = oh / math.sqrt(oh * ow / seq_len)
    mask_h = int(mask_h) + int((seq_len % int(mask_h)) != 0)
    mask_w = seq_len // mask_h
    m = F.interpolate(mask[:, None].float(), size=(mask_h, mask_w), mode="bilinear").squeeze(1)
    chunks = len(extra_options.get("cond_or_uncond") or [0])
    per = max(1, batch // chunks)
    m = torch.cat([m, m[-1:].expand(max(0, per - m.shape[0]), -1, -1)])[:per].repeat(chunks, 1, 1)
    m = m.reshape(m.shape[0], -1, 1).expand(-1, -1, width)
    length = mask_h * mask_w
    if length < seq_len:
        pad = seq_len - length
        m = F.pad(m, (0, 0, pad // 2, pad - pad // 2), value=0.0)
    elif length > seq_len:
        start = (length - seq_len) // 2
        m = m[:, start : start + seq_len]
    return m


class IdentityAttention:
    """An attn2 replacement: text attention plus ``scale`` × attention over the identity tokens
    (cond tokens for the cond half of the batch, uncond tokens for the uncond half), weighted by
    :class:`AttentionControls`.

    It speaks the attention-patch protocol other packs use, so patches compose in either order:

    * a replacement already registered on the same layer (another pack's adapter, e.g. cubiq's IPAdapter or
      InstantID) is kept as ``previous``: its result stands for the text attention and the identity term is
      added;
    * ``add(callback, **kwargs)`` (what cubiq's apply nodes call on the patch they find at their key) adds
      another term: ``callback(out, q, k, v, extra_options, **kwargs)``, gated by ``kwargs["sigma_start"]`` /
      ``kwargs["sigma_end"]`` as cubiq's ``Attn2Replace`` gates it.

    Attention goes through ComfyUI's ``optimized_attention`` with the call's ``transformer_options`` (so
    per-model attention overrides apply). ``model.clone()`` deep-copies it: the copy shares the weights and
    tokens but has its own list of added terms, so a pack adding to a later clone never changes this one."""

    def __init__(
        self,
        layer: torch.nn.Module,
        cond: torch.Tensor,
        uncond: torch.Tensor,
        scale: float,
        previous=None,
        controls: AttentionControls | None = None,
    ):
        self.layer, self.cond, self.uncond, self.scale, self.previous = layer, cond, uncond, scale, previous
        self.controls = controls or AttentionControls()
        self.added: list[tuple[Any, dict]] = []

    def add(self, callback, **kwargs) -> None:
        """Another pack's term on this layer (cubiq's ``Attn2Replace.add`` protocol)."""
        self.added.append((callback, kwargs))

    def __deepcopy__(self, memo):
        new = copy.copy(self)
        memo[id(self)] = new
        new.added = [(callback, dict(kwargs)) for callback, kwargs in self.added]
        new.previous = copy.deepcopy(self.previous, memo)
        return new

    def to(self, device):
        self.cond, self.uncond = self.cond.to(device), self.uncond.to(device)
        if self.controls.mask is not None:
            self.controls = replace(self.controls, mask=self.controls.mask.to(device))
        if self.previous is not None and hasattr(self.previous, "to"):
            self.previous = self.previous.to(device) or self.previous
        return self

    def identity_term(self, q: torch.Tensor, extra_options: dict) -> torch.Tensor | None:
        """The identity's attention output ``[B,N,C]`` for ``q`` ``[B,N,C]``, or None where it is off."""
        c = self.controls
        sigma = step_sigma(extra_options)
        if not (c.sigma_end <= sigma <= c.sigma_start):
            return None
        weight = c.weight(self.scale, extra_options)
        if weight == 0:
            return None
        heads = extra_options["n_heads"]
        precision = extra_options.get("attn_precision")
        chunks = extra_options.get("cond_or_uncond") or [0]
        per = q.shape[0] // len(chunks)
        tokens = torch.cat([(self.cond if i == 0 else self.uncond).expand(per, -1, -1) for i in chunks]).to(q)
        wk: torch.Tensor = self.layer.to_k_ip.weight  # type: ignore[union-attr,assignment]
        wv: torch.Tensor = self.layer.to_v_ip.weight  # type: ignore[union-attr,assignment]
        ip_k = tokens @ wk.to(q).t()
        ip_v = tokens @ wv.to(q).t()

        def attend(k, v):
            return attention.optimized_attention(
                q, k, v, heads, attn_precision=precision, transformer_options=extra_options
            )

        if c.embeds_scaling == "K+V":
            ip = attend(ip_k * weight, ip_v * weight)
        elif c.embeds_scaling == "K+V w/ C penalty":
            w = weight * ip_k.shape[2] / 1280.0
            ip = attend(ip_k * w, ip_v * w)
        elif c.embeds_scaling == "K+mean(V) w/ C penalty":
            w = weight * ip_k.shape[2] / 1280.0
            mean = ip_v.mean(dim=1, keepdim=True)
            ip = attend(ip_k * w, ip_v - mean + mean * w)
        else:  # "V only"
            ip = attend(ip_k, ip_v) * weight
        if c.mask is not None:
            ip = ip * mask_for_tokens(c.mask.to(ip), extra_options, q.shape[1], q.shape[0], ip.shape[2])
        return ip

    def __call__(self, q, k, v, extra_options):
        if self.previous is not None:
            out = self.previous(q, k, v, extra_options)
        else:
            out = attention.optimized_attention(
                q,
                k,
                v,
                extra_options["n_heads"],
                attn_precision=extra_options.get("attn_precision"),
                transformer_options=extra_options,
            )
        ip = self.identity_term(q, extra_options)
        if ip is not None:
            out = out + ip
        if self.added:
            sigma = step_sigma(extra_options)
            for callback, kwargs in self.added:
                if kwargs.get("sigma_end", 0.0) <= sigma <= kwargs.get("sigma_start", NO_SIGMA):
                    out = out + callback(out, q, k, v, extra_options, **kwargs)
        return out.to(q.dtype)


def attn2_patches(model) -> dict:
    """The attn2 replacements registered on ``model`` (key → patch)."""
    return model.model_options.get("transformer_options", {}).get("patches_replace", {}).get("attn2", {})


def patch_key(site: Site, sites: list[Site], attn2: dict) -> tuple:
    """The key our patch for ``site`` goes under: ComfyUI's two-part ``(block, index)`` key (what
    ``set_model_attn2_replace`` writes without a transformer index) where the UNet block holds one
    transformer block (every SD 1.5 block), so that a pack using those keys (cubiq's on SD 1.5) finds our
    patch and adds to it instead of being shadowed; the three-part key where it holds several (SDXL), or
    where a three-part patch is already there (it would shadow ours)."""
    full, short = tuple(site.key), tuple(site.key[:2])
    single = sum(1 for s in sites if tuple(s.key[:2]) == short) == 1
    return short if single and full not in attn2 else full


def existing_attn2_patch(model, key: tuple):
    """The attn2 replacement ``model`` already has for a transformer block ``(block, index, t)``: the one for
    exactly that key, else the one for its whole UNet block ``(block, index)``; None when there is none."""
    attn2 = attn2_patches(model)
    return attn2.get(tuple(key), attn2.get(tuple(key[:2])))


def clip_vision_features(clip_vision, crop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP vision penultimate hidden states ``[1,N,D]`` float32 of a face crop ``[H,W,3]`` uint8 (through
    ComfyUI's ``encode_image``, its own resize and normalisation), and of an all-zero normalised input
    (the reference's unconditional image: zero pixel values after normalisation). ``AdapterError`` naming
    ``clip_vision`` when either is not finite."""
    with torch.no_grad():
        image = crop.float()[None] / 255
        cond = clip_vision.encode_image(image).penultimate_hidden_states.float()
        mm.load_model_gpu(clip_vision.patcher)
        size = int(getattr(clip_vision, "image_size", 224))
        zeros = torch.zeros(1, 3, size, size, device=clip_vision.load_device)
        if getattr(clip_vision, "return_all_hidden_states", False):
            uncond = clip_vision.model(pixel_values=zeros, intermediate_output="all")[1][:, -2]
        else:
            uncond = clip_vision.model(pixel_values=zeros, intermediate_output=-2)[1]
    for what, features in (("the identity's face crop", cond), ("the unconditional (blank) image", uncond)):
        if not bool(torch.isfinite(features).all()):
            raise AdapterError(
                f"clip_vision: the CLIP vision model's features of {what} are not finite (NaN or inf), which "
                "would render all-black images. This happens when it runs in float16 on some GPUs: start "
                "ComfyUI with --fp32-text-enc (CLIP vision runs in the text encoders' dtype), or disconnect "
                "clip_vision to use plain FaceID."
            )
    return cond, uncond.float().to(cond.device)


def identity_tokens(
    adapter: LoadedAdapter,
    embedding: torch.Tensor,
    clip: tuple[torch.Tensor, torch.Tensor] | None = None,
    shortcut_scale: float = 1.0,
    uncond_embedding: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cond tokens from the embedding ``[512]`` (or ``[N,512]``: N faces, their tokens concatenated along the
    token axis) and uncond tokens from ``uncond_embedding`` (same shape; zeros when None), each ``[1,T·N,C]``
    float32. FaceID Plus / PlusV2 also take ``clip``: the face crop's CLIP vision hidden states and the
    unconditional ones, each ``[1,N,D]`` (:func:`clip_vision_features`); PlusV2 adds the resampler's
    output to the id tokens at ``shortcut_scale``."""
    with torch.no_grad():
        emb = embedding.float().reshape(-1, embedding.shape[-1])
        zero = torch.zeros_like(emb) if uncond_embedding is None else uncond_embedding.float().reshape(emb.shape)
        if adapter.projection is None:
            raise AdapterError(
                f"{adapter.path.name} has no projection weights: it cannot condition on a face embedding"
            )
        proj = adapter.projection
        if isinstance(proj, FaceIDPlusProjection):
            if clip is None:
                raise AdapterError(needs_clip_vision_message(adapter.layout))
            want = proj.clip_width
            if int(clip[0].shape[-1]) != want:
                raise AdapterError(
                    f"the CLIP vision model gives {clip[0].shape[-1]}-wide features, but {adapter.path.name} takes "
                    f"{want}-wide ones: load {CLIP_VISION_FILE} (ViT-H-14) in Load CLIP Vision"
                )
            shortcut = adapter.layout.kind == "faceid-plusv2"
            device = next(proj.parameters()).device
            n = emb.shape[0]
            cond = proj(emb, clip[0].to(device).expand(n, -1, -1), shortcut, shortcut_scale)
            uncond = proj(zero, clip[1].to(device).expand(n, -1, -1), shortcut, shortcut_scale)
        else:
            cond = proj(emb)
            uncond = proj(zero)
    return cond.reshape(1, -1, cond.shape[-1]), uncond.reshape(1, -1, uncond.shape[-1])


def separate_lora(adapter_path: Path) -> Path | None:
    """FaceID's LoRA published as its own file next to an adapter without one: ``<adapter name>_lora.*``
    in ``models/loras/`` (e.g. ip-adapter-faceid_sd15_lora.safetensors for ip-adapter-faceid_sd15.bin)."""
    want = f"{adapter_path.stem}_lora".lower()
    for name in folder_paths.get_filename_list("loras"):
        if Path(name).stem.lower() == want:
            return Path(folder_paths.get_full_path("loras", name))
    return None


def _separate_lora_patches(model, path: Path) -> dict:
    """The LoRA file's weight patches for ``model`` (ComfyUI's own key mapping and LoRA loader); a LoRA
    made for another model family is an error instead of ComfyUI's silent "lora key not loaded"."""
    import comfy.lora_convert

    sd = comfy.utils.load_torch_file(str(path), safe_load=True)
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    patches = comfy.lora.load_lora(comfy.lora_convert.convert_lora(sd), key_map, log_missing=False)
    wanted = sum(1 for k in sd if k.endswith(".lora_down.weight"))
    if wanted == 0 or len(patches) < wanted:
        raise AdapterError(
            f"{path.name}: {len(patches)} of its {wanted} LoRA weights fit the model; it is made for another "
            f"model family (use the FaceID LoRA of your checkpoint's family, or remove it from models/loras/)"
        )
    return patches


def compute_dtype(model) -> torch.dtype:
    """The dtype the UNet computes in: its weights' dtype, or for weights stored in another (fp8) the
    dtype ComfyUI casts them to (``manual_cast_dtype``)."""
    return getattr(model.model, "manual_cast_dtype", None) or model.model.get_dtype()


def patch_model(
    model,
    adapter: LoadedAdapter,
    sites: list[Site],
    cond,
    uncond,
    strength: float,
    lora_strength: float,
    lora_file: Path | None = None,
    controls: AttentionControls | None = None,
    notes: list[str] | None = None,
):
    """A clone of ``model`` with the adapter's attention patches on every cross-attention layer, its
    weights registered as an additional model, and FaceID's LoRA (in the adapter file, else
    ``lora_file``) at ``lora_strength``, unless the model already has it (:func:`lora_already_on`, e.g.
    from a LoraLoader): then it is not applied twice and a line saying so goes to ``notes``."""
    work = model.clone()
    dtype = compute_dtype(model)
    if dtype in (torch.float16, torch.bfloat16, torch.float32):
        adapter.layers.to(dtype=dtype)  # the UNet's precision (fp16 halves InstantID's 340 M weights)
    for i, site in enumerate(sites):
        layer = adapter.layers[str(2 * i + 1)]
        previous = existing_attn2_patch(work, site.key)
        key = patch_key(site, sites, attn2_patches(work))
        work.set_model_attn2_replace(IdentityAttention(layer, cond, uncond, strength, previous, controls), *key)
    work.set_additional_models("portraitos_identity_adapter", [adapter.patcher])
    if lora_strength == 0:
        return work
    if adapter.layout.lora_rank:
        pairs = lora_pairs(adapter.ip_sd, sites)
        lora = {}
        to_load = {}
        for weight_key, (up, down) in pairs.items():
            stem = weight_key[: -len(".weight")]
            lora[f"{stem}.lora_up.weight"] = up
            lora[f"{stem}.lora_down.weight"] = down
            to_load[stem] = weight_key
        patches = comfy.lora.load_lora(lora, to_load, log_missing=False)
        source = f"the LoRA inside {adapter.path.name}"
    elif lora_file is not None:
        patches = _separate_lora_patches(model, lora_file)
        source = lora_file.name
    else:
        return work
    found = lora_already_on(model, patches)
    if found is not None:
        strength, same = found
        note = (
            f"FaceID's LoRA is already in the model (a LoRA on all {len(patches)} attention weights it patches, "
            f"same ranks{', same weights as ' + source if same else ''}, at strength {strength:g}: a LoraLoader "
            f"before this node); {source} is not applied again, so lora_strength is not used. Remove that "
            "LoraLoader to set the strength here"
        )
        if notes is not None:
            notes.append(note)
        return work
    work.add_patches(patches, lora_strength)
    return work


def _lora_mats(adapter) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(up, down) of a ComfyUI LoRA weight patch, or None for another kind of patch."""
    w = getattr(adapter, "weights", None)
    if isinstance(w, (tuple, list)) and len(w) >= 2 and all(isinstance(t, torch.Tensor) for t in w[:2]):
        return w[0], w[1]
    return None


def lora_already_on(model, patches: dict) -> tuple[float, bool] | None:
    """Whether a LoRA equivalent to ``patches`` (UNet weight key → ComfyUI LoRA patch) is already patched
    into ``model`` (e.g. FaceID's separate LoRA through a LoraLoader): every key has a LoRA patch of the same
    up / down shapes (so the same ranks). Returns (its strength, whether its weights equal ours on the first
    key), or None."""
    strength = None
    same = True
    for i, (key, ours) in enumerate(patches.items()):
        mine = _lora_mats(ours)
        if mine is None:
            return None
        hit = None
        for entry in model.patches.get(key, ()):
            theirs = _lora_mats(entry[1])
            if theirs is not None and all(a.shape == b.shape for a, b in zip(theirs, mine)):
                hit = entry
                if i == 0:
                    same = all(torch.allclose(a.float(), b.float(), atol=1e-3) for a, b in zip(theirs, mine))
                break
        if hit is None:
            return None
        strength = float(hit[0]) if strength is None else strength
    return (strength, same) if strength is not None else None


def load_identitynet(path: Path):
    """InstantID's IdentityNet through ComfyUI's ControlNet loader, kept while the file is unchanged (at
    most :data:`KEEP_IDENTITYNETS`, and not after ComfyUI's model management unloaded it)."""
    st = path.stat()
    return CACHE.get(
        IDENTITYNET_KIND,
        str(path),
        lambda: _load_identitynet(path),
        version=(st.st_mtime_ns, st.st_size),
        keep=KEEP_IDENTITYNETS,
    )


def _load_identitynet(path: Path):
    try:
        net = comfy.controlnet.load_controlnet(str(path))
    except Exception as e:
        raise AdapterError(f"{path.name} could not be loaded as a ControlNet ({type(e).__name__}: {e})") from None
    if net is None:
        raise AdapterError(f"{path.name} is not a ControlNet ComfyUI can load; put {WHERE['controlnet']}")
    wrapped = getattr(net, "control_model_wrapped", None)
    if wrapped is not None:
        _release_on_unload(wrapped, IDENTITYNET_KIND, str(path), net)
    return net


COMBINE_EMBEDS = ("average", "norm average", "concat")


def identity_embedding(identity: Identity, method: str, combine: str = "average", kind: str = "") -> torch.Tensor:
    """The embedding ``method`` conditions on, after checking the identity was made with the face pack the
    method was trained on, ``[1,512]`` (or ``[N,512]`` with ``combine`` "concat": one per photo).

    The base embeddings: InstantID and FaceID Portrait-unnorm (``kind`` "faceid-portrait-unnorm") the raw
    ArcFace outputs, the other FaceID adapters the normalised ones. ``combine`` over the identity's photos:
    "average" (InstantID, unnorm: the mean of the raw ones; FaceID: the renormalised mean of the normalised
    ones, the identity's stored embedding), "norm average" (cubiq's: each component divided by its norm over
    the photos, then the mean), "concat" (all of them)."""
    if combine not in COMBINE_EMBEDS:
        raise AdapterError(f"combine_embeds must be one of {', '.join(COMBINE_EMBEDS)}, got {combine!r}")
    pack = FACE_PACK["instantid" if method == INSTANTID else "faceid"]
    made = identity.meta.get("model_pack")
    if "embedding" not in identity.tensors or "embeddings_raw" not in identity.tensors:
        raise AdapterError(
            f"identity {identity.name!r} has no face embedding: create it again with IdentityLoader (mode create)"
        )
    if made != pack:
        raise AdapterError(
            f"identity {identity.name!r} was made with the face pack {made!r}, but {method} was trained on "
            f"{pack} embeddings: run IdentityLoader in mode create with face_model {pack} on the same selfie "
            f"(under a new name, e.g. '{identity.name}_{pack}') and use that identity"
        )
    raw = method == INSTANTID or kind == "faceid-portrait-unnorm"
    base = identity.tensors["embeddings_raw" if raw else "embeddings_normed"].float()
    if combine == "concat":
        return base
    if combine == "norm average" and base.shape[0] > 1:
        return (base / base.norm(dim=0, keepdim=True)).mean(0, keepdim=True)
    if combine == "norm average" or raw:  # one photo: nothing to combine
        return base.mean(0, keepdim=True)
    return identity.embedding.float().reshape(1, -1)


def negative_embedding(embedding: torch.Tensor, noise: float) -> torch.Tensor | None:
    """The unconditional embedding: None (zeros) when ``noise`` is 0, else ``noise`` × uniform noise seeded
    from the embedding's sum (cubiq's InstantID rule: the same face gives the same noise)."""
    if noise <= 0:
        return None
    seed = int(torch.sum(embedding).item()) % 1000000007
    g = torch.Generator().manual_seed(seed)
    return noise * torch.rand(embedding.shape, generator=g)


@dataclass(frozen=True)
class IdentityOptions:
    """The optional controls, with cubiq's meanings; the defaults give the previous release's result.

    start_at / end_at: the part of sampling (0..1) the adapter runs in; controlnet_start / controlnet_end:
    IdentityNet's. noise: the negative embedding's noise (cubiq's Apply InstantID uses 0.35). weight_type,
    embeds_scaling: :data:`WEIGHT_TYPES`, :data:`EMBEDS_SCALING`. combine_embeds: :data:`COMBINE_EMBEDS`.
    mask: ``[M,H,W]`` 0..1, where the identity applies (several people: one apply node per person and mask);
    InstantID also limits its positive conditioning and IdentityNet to it. image_kps: ``[1,H,W,3]`` a picture
    whose largest face's keypoints pose IdentityNet (drawn at that picture's size), instead of the
    identity's own face."""

    start_at: float = 0.0
    end_at: float = 1.0
    controlnet_start: float = 0.0
    controlnet_end: float = 1.0
    noise: float = 0.0
    weight_type: str = "linear"
    embeds_scaling: str = "V only"
    combine_embeds: str = "average"
    mask: Optional[torch.Tensor] = None
    image_kps: Optional[torch.Tensor] = None

    def check(self) -> None:
        for name in ("start_at", "end_at", "controlnet_start", "controlnet_end", "noise"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise AdapterError(f"{name} must be between 0 and 1, got {value}")
        if self.start_at > self.end_at or self.controlnet_start > self.controlnet_end:
            raise AdapterError("start must not come after end (start_at ≤ end_at, controlnet_start ≤ controlnet_end)")
        if self.weight_type not in WEIGHT_TYPES:
            raise AdapterError(f"weight_type must be one of {', '.join(WEIGHT_TYPES)}, got {self.weight_type!r}")
        if self.embeds_scaling not in EMBEDS_SCALING:
            raise AdapterError(
                f"embeds_scaling must be one of {', '.join(EMBEDS_SCALING)}, got {self.embeds_scaling!r}"
            )


def keypoints_from_image(image: torch.Tensor, face_pack_name: str) -> torch.Tensor:
    """The five keypoints ``[5,2]`` (pixels) of the largest face in ``image`` ``[1,H,W,3]`` float 0..1,
    found with the identity's InsightFace pack; FaceError when there is none."""
    import numpy as np

    from portraitos.engine.faces import FaceError
    from portraitos.engine.faces.analysis import find_faces_insightface, largest_first

    from .face_packs import face_pack

    rgb = (image[0].detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    faces = find_faces_insightface(face_pack(face_pack_name, "CPU"), rgb)
    if not faces:
        raise FaceError("image_kps: no face found in the keypoint picture; use a picture with a visible face")
    return torch.from_numpy(np.asarray(largest_first(faces)[0].kps, np.float32))


@dataclass
class IdentityPatch:
    """What an identity adds to sampling: ``model`` (a patched clone, or the input model when nothing is
    applied), the entries to put into every positive / negative conditioning dict, the ControlNet
    (InstantID's IdentityNet with its keypoint hint, or None) and the LoRA's weight patches' size in bytes."""

    model: Any
    positive: dict
    negative: dict
    control: Any = None
    lora_bytes: int = 0
    adapter: Optional[LoadedAdapter] = None
    reference: Optional[str] = None  # which of the identity's faces drew the keypoints, when it had several
    skipped: tuple[str, ...] = ()  # what to warn about: "auto" candidates passed over ("file: why"), a LoRA kept
    used: tuple[str, ...] = ()  # the files used ("adapter: …", "IdentityNet: …", "LoRA: …")


def _tensor_bytes(obj) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(o) for o in obj)
    weights = getattr(obj, "weights", None)
    return _tensor_bytes(weights) if weights is not None else 0


def apply_identity(
    model,
    identity: Identity,
    method: str,
    strength: float,
    adapter_file: str = "auto",
    controlnet_file: str = "auto",
    controlnet_strength: float = 0.8,
    lora_strength: float = 0.6,
    width: int = 832,
    height: int = 1216,
    vae=None,
    node: str = "PortraitGenerate",
    clip_vision=None,
    shortcut_scale: float = 1.0,
    options: IdentityOptions | None = None,
) -> IdentityPatch:
    """The identity applied for ``method`` ("InstantID" or "IP-Adapter FaceID") to a clone of ``model``:
    the adapter's attention patches at ``strength`` (0: nothing is applied; negative: pushed away, as
    cubiq's), FaceID's LoRA at ``lora_strength`` (unless the model has it already), and for InstantID the
    IdentityNet at ``controlnet_strength`` with its keypoint image drawn for a ``width`` × ``height``
    picture (ComfyUI rescales it to the latent at sampling time) and the face tokens as its context. A
    FaceID Plus / PlusV2 adapter also takes ``clip_vision`` (ComfyUI's CLIP_VISION) over the identity's
    aligned 224 px face crop (its best face when it has several) and, for PlusV2, ``shortcut_scale``;
    ``clip_vision`` is ignored by the other adapters. ``options``: :class:`IdentityOptions`. Used by
    PortraitGenerate and PortraitIdentityApply alike; ``used`` on the result names the files used."""
    log = logging.getLogger("PortraitOS")
    options = options or IdentityOptions()
    options.check()
    if method not in (INSTANTID, FACEID):
        raise AdapterError(f"method must be {INSTANTID} or {FACEID} here, got {method!r}")
    if strength == 0:
        return IdentityPatch(model, {}, {})
    identity_embedding(identity, method)  # the face pack is checked before any file is read
    family = model_family(model)
    passed_over: list[str] = []
    used: list[str] = []
    has_clip = clip_vision is not None and method == FACEID
    if adapter_file in (None, "", "auto"):
        adapter, sites, skipped = load_auto_adapter(method, family, model, has_clip)
        for line in skipped:
            log.warning("%s: adapter_file auto skipped %s", node, line)
            passed_over.append(f"adapter_file auto skipped {line}")
    else:
        adapter = load_adapter(resolve_adapter(method, adapter_file, family))
        sites = check_adapter(adapter, method, model, has_clip)
    used.append(f"adapter: {adapter_name(adapter.path, method)} ({adapter.layout.describe()})")
    embedding = identity_embedding(identity, method, options.combine_embeds, adapter.layout.kind)
    clip = None
    reference = None
    if adapter.layout.kind in PLUS_KINDS:
        face = 0
        if identity.tensors["crop_224"].shape[0] > 1:  # the most frontal, sharpest, best-lit of its photos
            choice = choose_identity_face(identity.tensors)
            face, reference = choice.index, f"CLIP vision face: {choice.describe('identity face')}"
            log.info("%s: %s", node, reference)
        clip = clip_vision_features(clip_vision, identity.tensors["crop_224"][face])
    elif clip_vision is not None:
        log.info("%s: clip_vision is not used by %s", node, adapter.layout.describe())
    uncond_embedding = negative_embedding(embedding, options.noise)
    cond_tok, uncond_tok = identity_tokens(adapter, embedding, clip, shortcut_scale, uncond_embedding)
    lora_file = None
    if adapter.layout.kind in ("faceid", *PLUS_KINDS) and not adapter.layout.lora_rank:
        lora_file = separate_lora(adapter.path)
    sampling = model.get_model_object("model_sampling")
    mask = options.mask
    if mask is not None:
        mask = mask.float().reshape(-1, *mask.shape[-2:])
    controls = AttentionControls(
        sigma_start=float(sampling.percent_to_sigma(options.start_at)),
        sigma_end=float(sampling.percent_to_sigma(options.end_at)),
        weight_type=options.weight_type,
        embeds_scaling=options.embeds_scaling,
        mask=mask,
        layers=len({tuple(site.key[:2]) for site in sites}),
    )
    lora_notes: list[str] = []
    work = patch_model(
        model, adapter, sites, cond_tok, uncond_tok, strength, lora_strength, lora_file, controls, lora_notes
    )
    for note in lora_notes:
        log.warning("%s: %s", node, note)
        passed_over.append(note)
    if adapter.layout.lora_rank and lora_strength != 0 and not lora_notes:
        used.append(f"LoRA: inside {adapter.path.name} at {lora_strength:g}")
    elif lora_file is not None and lora_strength != 0 and not lora_notes:
        used.append(f"LoRA: {lora_file.name} at {lora_strength:g}")
    lora_bytes = sum(_tensor_bytes(p) for patches in work.patches.values() for p in patches) - sum(
        _tensor_bytes(p) for patches in model.patches.values() for p in patches
    )
    pos: dict = {}
    neg: dict = {}
    control = None
    if method == INSTANTID and controlnet_strength != 0:
        if controlnet_file in (None, "", "auto"):
            name, skipped = pick_identitynet(unet_sites(model)[0].context, unet_sites(model))
            net = load_identitynet(Path(folder_paths.get_full_path("controlnet", name)))
            for line in skipped:
                log.warning("%s: controlnet_file auto skipped %s", node, line)
                passed_over.append(f"controlnet_file auto skipped {line}")
        else:
            name = controlnet_file
            path = resolve_controlnet(controlnet_file)
            problem = identitynet_layout_problem(path, unet_sites(model)[0].context, unet_sites(model))
            if problem:
                raise AdapterError(f"controlnet_file {controlnet_file!r} is not InstantID's IdentityNet: {problem}")
            net = load_identitynet(path)
        used.append(f"IdentityNet: {name}")
        if options.image_kps is not None:
            image = options.image_kps[:1]
            kps = keypoints_from_image(image, identity.meta.get("model_pack") or "antelopev2")
            kh, kw = int(image.shape[1]), int(image.shape[2])
            hint = draw_keypoints(kps, kw, kh)[None].movedim(-1, 1)
            used.append(f"IdentityNet keypoints: from image_kps ({kw}×{kh})")
        else:
            face = 0
            if identity.tensors["kps"].shape[0] > 1:  # the most frontal, sharpest, best-lit of its photos
                choice = choose_identity_face(identity.tensors)
                face, reference = choice.index, f"IdentityNet keypoints: {choice.describe('identity face')}"
                log.info("%s: %s", node, reference)
            kps = place_keypoints(identity.tensors["kps"][face], identity.tensors["bbox"][face], width, height)
            hint = draw_keypoints(kps, width, height)[None].movedim(-1, 1)
        span = (options.controlnet_start, options.controlnet_end)
        control = net.copy().set_cond_hint(hint, controlnet_strength, span, vae=vae)
        pos = {"control": control, "control_apply_to_uncond": False, "cross_attn_controlnet": cond_tok}
        neg = {"control": control, "control_apply_to_uncond": False, "cross_attn_controlnet": uncond_tok}
        if mask is not None:  # as cubiq's Apply InstantID: the positive conditioning (and IdentityNet) in the mask
            pos.update(mask=mask, set_area_to_bounds=False)
    for line in used:
        log.info("%s: %s", node, line)
    return IdentityPatch(
        work, pos, neg, control, max(0, lora_bytes), adapter, reference, tuple(passed_over), tuple(used)
    )


def adapter_name(path: Path, method: str) -> str:
    """The adapter file's name as its combo shows it (relative to its models folder)."""
    for root in folder_paths.get_folder_paths(ADAPTER_FOLDERS[method]):
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.name


def conditioning_with(conditioning: list, extra: dict, cache: dict) -> list:
    """A copy of a CONDITIONING (``[[tokens, dict], ...]``) with ``extra`` in every entry's dict. A
    ControlNet in ``extra`` is chained after the one an entry already has, as ComfyUI's ControlNet apply
    node does (one copy per previous ControlNet, shared through ``cache`` by positive and negative)."""
    out = []
    for tokens, d in conditioning:
        d = dict(d)
        add = dict(extra)
        control = add.pop("control", None)
        if control is not None:
            previous = d.get("control")
            key = id(previous)
            if key not in cache:
                chained = control.copy() if previous is not None else control
                if previous is not None:
                    chained.set_previous_controlnet(previous)
                cache[key] = chained
            d["control"] = cache[key]
        d.update(add)
        out.append([tokens, d])
    return out
