"""ComfyUI side of identity adapters: finding and loading adapter / ControlNet files, and patching a
**clone** of the user's model through ComfyUI's attention-replacement patches, weight patches (LoRA)
and additional models (so ComfyUI moves the adapter's weights with the UNet).

The input model is never mutated: everything is registered on ``model.clone()``.
"""

from __future__ import annotations

from dataclasses import dataclass
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

from portraitos.engine.generation import (
    AdapterError,
    AdapterLayout,
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
from portraitos.engine.generation.adapters import family_hint, order_adapter_files, order_identitynet_files

from . import model_folders  # noqa: F401  (registers models/instantid and models/ipadapter)
from .model_cache import CACHE
from .model_sources import GENERATION_SOURCES

ADAPTER_FOLDERS = {"InstantID": "instantid", "IP-Adapter FaceID": "ipadapter"}
EXTENSIONS = (".safetensors", ".bin", ".pth", ".pt")
README = "see the README, section PortraitGenerate"
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


def adapter_candidates(method: str, family: str) -> list[str]:
    """The files "auto" tries for ``method``, in this order: (IP-Adapter FaceID: FaceID files before
    others, plain before Plus/Portrait) names that name the model family, then names that name none,
    then the rest; alphabetical within each."""

    return order_adapter_files(adapter_files(method), method, family)


def load_auto_adapter(method: str, family: str, model) -> tuple[LoadedAdapter, list[Site], list[str]]:
    """ "auto": the first of :func:`adapter_candidates` that loads and fits ``model``, its sites, and one
    line per candidate skipped before it (name: why). AdapterError when none is usable, naming each."""
    folder = ADAPTER_FOLDERS[method]
    candidates = adapter_candidates(method, family)
    if not candidates:
        where = ", ".join(folder_paths.get_folder_paths(folder))
        raise AdapterError(f"no {method} adapter found in models/{folder}/ ({where}): put {WHERE[method]} ({README})")
    skipped: list[str] = []
    for name in candidates:
        try:
            adapter = load_adapter(Path(folder_paths.get_full_path(folder, name)))
            return adapter, check_adapter(adapter, method, model), skipped
        except AdapterError as e:
            skipped.append(f"{name}: {e}")
    raise AdapterError(
        f"no usable {method} adapter in models/{folder}/ (tried in order: " + "; ".join(skipped) + f"); put "
        f"{WHERE[method]} ({README})"
    )


def controlnet_candidates() -> list[str]:
    """The files "auto" tries as InstantID's IdentityNet, in this order: names with "instantid" or
    "identitynet", then the published file name ``diffusion_pytorch_model.safetensors`` (in any
    subfolder); alphabetical within each. Other ControlNets are never tried."""
    return order_identitynet_files(controlnet_files())


def load_auto_identitynet() -> tuple[Any, list[str]]:
    """ "auto": the first of :func:`controlnet_candidates` that loads, and one line per candidate skipped."""
    candidates = controlnet_candidates()
    if not candidates:
        where = ", ".join(folder_paths.get_folder_paths("controlnet"))
        raise AdapterError(
            f"InstantID needs its IdentityNet ControlNet and none was found in models/controlnet/ ({where}) named "
            f"with 'instantid' or as published (diffusion_pytorch_model.safetensors): put {WHERE['controlnet']}, "
            f"or choose the file in controlnet_file ({README})"
        )
    skipped: list[str] = []
    for name in candidates:
        try:
            return load_identitynet(Path(folder_paths.get_full_path("controlnet", name))), skipped
        except AdapterError as e:
            skipped.append(f"{name}: {e}")
    raise AdapterError("no usable IdentityNet in models/controlnet/ (tried in order: " + "; ".join(skipped) + ")")


def resolve_controlnet(choice: str) -> Path:
    if choice and choice != "auto":
        path = folder_paths.get_full_path("controlnet", choice)
        if path is None:
            raise AdapterError(f"controlnet_file {choice!r} is not in models/controlnet/; put {WHERE['controlnet']}")
        return Path(path)
    files = [f for f in controlnet_files() if "instantid" in f.lower() or "identitynet" in f.lower()]
    if not files:
        where = ", ".join(folder_paths.get_folder_paths("controlnet"))
        raise AdapterError(
            f"InstantID needs its IdentityNet ControlNet and none was found in models/controlnet/ ({where}) with "
            f"'instantid' in its name: put {WHERE['controlnet']}, or choose the file in controlnet_file ({README})"
        )
    return Path(folder_paths.get_full_path("controlnet", files[0]))


@dataclass
class LoadedAdapter:
    path: Path
    layout: AdapterLayout
    projection: Optional[torch.nn.Module]  # None for adapters whose face tokens need no projection
    layers: torch.nn.ModuleDict
    ip_sd: dict[str, torch.Tensor]
    patcher: comfy.model_patcher.ModelPatcher


CACHE_KIND = "identity adapter"


def load_adapter(path: Path) -> LoadedAdapter:
    """Load (once per file version) an adapter through ComfyUI's safe loader (``.bin`` files are
    unpickled weights-only), recognise it from its keys and shapes, build its modules."""
    st = path.stat()
    return CACHE.get(CACHE_KIND, str(path), lambda: _load_adapter(path), version=(st.st_mtime_ns, st.st_size))


def _load_adapter(path: Path) -> LoadedAdapter:
    try:
        sd = comfy.utils.load_torch_file(str(path), safe_load=True)
    except Exception as e:
        raise AdapterError(f"{path.name} could not be read ({type(e).__name__}: {e}); download it again") from None
    proj_sd, ip_sd = split_groups(sd)
    layout = detect_layout(proj_sd, ip_sd)
    projection = (
        build_projection(layout.kind, {k: v.float() for k, v in proj_sd.items()})
        if layout.kind
        in (
            "instantid",
            "faceid",
        )
        else None
    )
    layers = build_ip_layers(ip_sd)
    patcher = comfy.model_patcher.ModelPatcher(
        layers, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device()
    )
    return LoadedAdapter(path, layout, projection, layers, ip_sd, patcher)


def unet_sites(model) -> list[Site]:
    return cross_attention_sites(model.model.diffusion_model)


def check_adapter(adapter: LoadedAdapter, method: str, model) -> list[Site]:
    check_supported(adapter.layout, method)
    sites = unet_sites(model)
    family = model_family(model)
    check_family(adapter.layout, family, [s.hidden for s in sites], sites[0].context if sites else 0)
    if method == "InstantID" and family != "SDXL":
        raise AdapterError(f"InstantID is made for SDXL, but the model is {family}: load an SDXL checkpoint")
    return sites


class IdentityAttention:
    """An attn2 replacement: text attention plus ``scale`` × attention over the identity tokens
    (cond tokens for the cond half of the batch, uncond tokens for the uncond half)."""

    def __init__(self, layer: torch.nn.Module, cond: torch.Tensor, uncond: torch.Tensor, scale: float):
        self.layer, self.cond, self.uncond, self.scale = layer, cond, uncond, scale

    def __deepcopy__(self, memo):  # model_options are deep-copied by clone(); the weights are shared
        return self

    def to(self, device):
        self.cond, self.uncond = self.cond.to(device), self.uncond.to(device)
        return self

    def __call__(self, q, k, v, extra_options):
        heads = extra_options["n_heads"]
        out = attention.optimized_attention(q, k, v, heads)
        chunks = extra_options.get("cond_or_uncond") or [0]
        per = q.shape[0] // len(chunks)
        tokens = torch.cat([(self.cond if c == 0 else self.uncond).expand(per, -1, -1) for c in chunks]).to(q)
        wk = self.layer.to_k_ip.weight.to(q)
        wv = self.layer.to_v_ip.weight.to(q)
        ip = attention.optimized_attention(q, tokens @ wk.t(), tokens @ wv.t(), heads)
        return out + self.scale * ip


def identity_tokens(adapter: LoadedAdapter, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cond tokens from the embedding ``[512]`` and uncond tokens from zeros, each ``[1,T,C]`` float32."""
    with torch.no_grad():
        emb = embedding.float().reshape(1, -1)
        if adapter.projection is None:
            raise AdapterError(
                f"{adapter.path.name} has no projection weights: it cannot condition on a face embedding"
            )
        cond = adapter.projection(emb)
        uncond = adapter.projection(torch.zeros_like(emb))
    return cond, uncond


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


def patch_model(
    model,
    adapter: LoadedAdapter,
    sites: list[Site],
    cond,
    uncond,
    strength: float,
    lora_strength: float,
    lora_file: Path | None = None,
):
    """A clone of ``model`` with the adapter's attention patches on every cross-attention layer, its
    weights registered as an additional model, and FaceID's LoRA (in the adapter file, else
    ``lora_file``) at ``lora_strength``."""
    work = model.clone()
    dtype = model.model.get_dtype()
    if dtype in (torch.float16, torch.bfloat16, torch.float32):
        adapter.layers.to(dtype=dtype)  # the UNet's precision (fp16 halves InstantID's 340 M weights)
    for i, site in enumerate(sites):
        layer = adapter.layers[str(2 * i + 1)]
        work.set_model_attn2_replace(IdentityAttention(layer, cond, uncond, strength), *site.key)
    work.set_additional_models("portraitos_identity_adapter", [adapter.patcher])
    if adapter.layout.lora_rank and lora_strength != 0:
        pairs = lora_pairs(adapter.ip_sd, sites)
        lora = {}
        to_load = {}
        for key, (up, down) in pairs.items():
            name = key[: -len(".weight")]
            lora[f"{name}.lora_up.weight"] = up
            lora[f"{name}.lora_down.weight"] = down
            to_load[name] = key
        patches = comfy.lora.load_lora(lora, to_load, log_missing=False)
        work.add_patches(patches, lora_strength)
    elif lora_file is not None and lora_strength != 0:
        work.add_patches(_separate_lora_patches(model, lora_file), lora_strength)
    return work


def load_identitynet(path: Path):
    """InstantID's IdentityNet through ComfyUI's ControlNet loader, kept while the file is unchanged."""
    st = path.stat()
    return CACHE.get("identitynet", str(path), lambda: _load_identitynet(path), version=(st.st_mtime_ns, st.st_size))


def _load_identitynet(path: Path):
    try:
        net = comfy.controlnet.load_controlnet(str(path))
    except Exception as e:
        raise AdapterError(f"{path.name} could not be loaded as a ControlNet ({type(e).__name__}: {e})") from None
    if net is None:
        raise AdapterError(f"{path.name} is not a ControlNet ComfyUI can load; put {WHERE['controlnet']}")
    return net
