"""Tiny diffusion models with the real layouts, built by the tests (nothing is downloaded).

* Two test-only model configurations, ``TinySD15`` and ``TinySDXL``, subclasses of ComfyUI's own
  ``SD15`` / ``SDXL`` with small widths (and small text encoders). ``register()`` puts them first in
  ``comfy.supported_models.models`` so that ComfyUI's ordinary ``CheckpointLoaderSimple`` detects a
  tiny checkpoint from its shapes as it detects a real one; ``unregister()`` takes them out again.
  The block structure is the real one (SD 1.5: 16 cross-attention layers; SDXL: 70), so adapter
  layer numbering is exercised exactly as with real weights.
* ``build_checkpoint``: a ``.safetensors`` checkpoint (UNet + text encoder(s) + TAESD VAE) written by
  ComfyUI's own ``comfy.sd.save_checkpoint``.
* ``build_faceid`` / ``build_instantid`` / ``build_controlnet``: adapter and ControlNet files with the
  published key names and layouts (``.bin`` written as a weights-only torch pickle, as published);
  ``faceid_plus_state_dict``: FaceID Plus / PlusV2's; ``build_clip_vision``: a tiny CLIP vision model
  built by ComfyUI's own ``comfy.clip_vision.ClipVisionModel`` from a config json.

Everything needs ComfyUI importable (the ``comfy_nodes`` fixture or a ComfyUI process).
"""

from __future__ import annotations

from pathlib import Path

import torch

TEXT_L = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2}
TEXT_G = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "projection_dim": 64,
}
SD15_CONTEXT = TEXT_L["hidden_size"]  # 32
SDXL_CONTEXT = TEXT_L["hidden_size"] + TEXT_G["hidden_size"]  # 96
SDXL_ADM = TEXT_G["projection_dim"] + 6 * 256  # 1600

SD15_UNET = {
    "use_checkpoint": False,
    "image_size": 32,
    "out_channels": 4,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "model_channels": 32,
    "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "channel_mult": [1, 2, 4, 4],
    "transformer_depth_middle": 1,
    "use_linear_in_transformer": False,
    "context_dim": SD15_CONTEXT,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False,
    "use_temporal_resblock": False,
}
SDXL_UNET = {
    "use_checkpoint": False,
    "image_size": 32,
    "out_channels": 4,
    "use_spatial_transformer": True,
    "legacy": False,
    "num_classes": "sequential",
    "adm_in_channels": SDXL_ADM,
    "in_channels": 4,
    "model_channels": 32,
    "num_res_blocks": [2, 2, 2],
    "transformer_depth": [0, 0, 2, 2, 10, 10],
    "channel_mult": [1, 1, 2],
    "transformer_depth_middle": 10,
    "use_linear_in_transformer": True,
    "context_dim": SDXL_CONTEXT,
    "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "use_temporal_attention": False,
    "use_temporal_resblock": False,
}
# attn2 hidden widths in diffusers processor order (down, up, mid), as the real layouts but tiny
SD15_HIDDEN = [32, 32, 64, 64, 128, 128] + [128] * 3 + [64] * 3 + [32] * 3 + [128]
SDXL_HIDDEN = [32] * 4 + [64] * 20 + [64] * 30 + [32] * 6 + [64] * 10

_classes: dict[str, type] = {}


def _config_classes() -> dict[str, type]:
    if _classes:
        return _classes
    from comfy import sd1_clip, sdxl_clip, supported_models, supported_models_base

    class TinySD1Clip(sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options=None, **kwargs):
            opts = {**(model_options or {}), "clip_l_model_config": TEXT_L}
            super().__init__(device=device, dtype=dtype, model_options=opts)

    class TinySDXLClip(sdxl_clip.SDXLClipModel):
        def __init__(self, device="cpu", dtype=None, model_options=None):
            opts = {**(model_options or {}), "clip_l_model_config": TEXT_L, "clip_g_model_config": TEXT_G}
            super().__init__(device=device, dtype=dtype, model_options=opts)

    class TinySD15(supported_models.SD15):
        unet_config = {
            "context_dim": SD15_CONTEXT,
            "model_channels": 32,
            "use_linear_in_transformer": False,
            "adm_in_channels": None,
            "use_temporal_attention": False,
        }
        unet_extra_config = {"num_heads": 2, "num_head_channels": -1}

        def clip_target(self, state_dict=None):
            return supported_models_base.ClipTarget(sd1_clip.SD1Tokenizer, TinySD1Clip)

    class TinySDXL(supported_models.SDXL):
        unet_config = {
            "model_channels": 32,
            "use_linear_in_transformer": True,
            "transformer_depth": [0, 0, 2, 2, 10, 10],
            "context_dim": SDXL_CONTEXT,
            "adm_in_channels": SDXL_ADM,
            "use_temporal_attention": False,
        }
        unet_extra_config = {"num_heads": -1, "num_head_channels": 16}

        def clip_target(self, state_dict=None):
            return supported_models_base.ClipTarget(sdxl_clip.SDXLTokenizer, TinySDXLClip)

    _classes.update(sd15=TinySD15, sdxl=TinySDXL)
    return _classes


_diffusers_detection: dict = {}


def _tiny_sdxl_config(dtype=None) -> dict:
    import comfy.model_detection

    return comfy.model_detection.convert_config({**SDXL_UNET, "num_head_channels": 16, "dtype": dtype})


def _detect_diffusers_with_tiny(original):
    """ComfyUI's diffusers UNet/ControlNet matcher, which knows a fixed list of published sizes, also knowing
    the tiny SDXL (as ``register`` adds the tiny classes to the checkpoint matcher). Everything after the
    match (key renames, building the ControlNet) is ComfyUI's own code."""

    def detect(state_dict, dtype=None):
        found = original(state_dict, dtype)
        if found is not None or "conv_in.weight" not in state_dict:
            return found
        add = state_dict.get("add_embedding.linear_1.weight")
        to_k = next((v for k, v in state_dict.items() if k.endswith("attn2.to_k.weight")), None)
        tiny = (
            state_dict["conv_in.weight"].shape[0] == SDXL_UNET["model_channels"]
            and add is not None
            and add.shape[1] == SDXL_ADM
            and to_k is not None
            and to_k.shape[1] == SDXL_CONTEXT
        )
        return _tiny_sdxl_config(dtype) if tiny else None

    return detect


def register() -> None:
    """Put the tiny configurations first in ComfyUI's supported models, and the tiny SDXL into its
    diffusers-layout matcher (idempotent)."""
    import comfy.model_detection
    from comfy import supported_models

    for cls in _config_classes().values():
        if cls not in supported_models.models:
            supported_models.models.insert(0, cls)
    if "original" not in _diffusers_detection:
        original = comfy.model_detection.unet_config_from_diffusers_unet
        _diffusers_detection["original"] = original
        comfy.model_detection.unet_config_from_diffusers_unet = _detect_diffusers_with_tiny(original)


def unregister() -> None:
    import comfy.model_detection
    from comfy import supported_models

    for cls in _config_classes().values():
        while cls in supported_models.models:
            supported_models.models.remove(cls)
    if "original" in _diffusers_detection:
        comfy.model_detection.unet_config_from_diffusers_unet = _diffusers_detection.pop("original")


def _fill(module: torch.nn.Module, seed: int) -> None:
    """Deterministic weights for every parameter (ComfyUI's layers skip initialisation)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() <= 1:
                p.fill_(0.0 if "shift" in name else 1.0)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)


def build_checkpoint(path: Path, family: str, seed: int = 0) -> Path:
    """Write a tiny ``family`` ("sd15" or "sdxl") checkpoint with ComfyUI's own checkpoint writer."""
    import comfy.model_patcher
    import comfy.sd
    from comfy.taesd.taesd import TAESD

    config = _config_classes()[family](dict(SD15_UNET if family == "sd15" else SDXL_UNET))
    base = config.get_model({}, "")
    _fill(base, seed)
    model = comfy.model_patcher.ModelPatcher(base, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
    clip = comfy.sd.CLIP(config.clip_target(), model_options={"load_device": torch.device("cpu")})
    _fill(clip.cond_stage_model, seed + 1)
    taesd = TAESD(latent_channels=4)
    _fill(taesd, seed + 2)
    vae = comfy.sd.VAE(sd=taesd.state_dict())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    comfy.sd.save_checkpoint(str(path), model, clip, vae)
    return path


# --- adapters and ControlNet with the published key layouts (tiny widths) -----------------------

FAMILY = {
    "sd15": {"context": SD15_CONTEXT, "hidden": SD15_HIDDEN},
    "sdxl": {"context": SDXL_CONTEXT, "hidden": SDXL_HIDDEN},
}
LORA_RANK = 4


def _rand(g: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    fan_in = shape[-1] if len(shape) > 1 else 1
    return torch.randn(shape, generator=g) * scale / fan_in**0.5


def faceid_state_dict(family: str, seed: int = 0, lora: bool = True, tokens: int = 4, dtype=torch.float16) -> dict:
    """IP-Adapter FaceID's layout (``image_proj``: MLP ``proj.0`` / ``proj.2`` / ``norm``; ``ip_adapter``:
    ``{n}.to_k_ip`` / ``{n}.to_v_ip`` for odd n and, with ``lora``, ``{n}.to_{q,k,v,out}_lora.{down,up}``
    for every n) for the tiny ``family`` model; ``tokens`` 16 gives the Portrait variant's projection."""
    g = torch.Generator().manual_seed(seed)
    ctx, hidden = FAMILY[family]["context"], FAMILY[family]["hidden"]
    proj = {
        "proj.0.weight": _rand(g, 64, 512),
        "proj.0.bias": torch.zeros(64),
        "proj.2.weight": _rand(g, ctx * tokens, 64),
        "proj.2.bias": torch.zeros(ctx * tokens),
        "norm.weight": torch.ones(ctx),
        "norm.bias": torch.zeros(ctx),
    }
    ip = {}
    for i, h in enumerate(hidden):
        for n in (2 * i, 2 * i + 1):
            if n % 2:
                ip[f"{n}.to_k_ip.weight"] = _rand(g, h, ctx, scale=4.0)
                ip[f"{n}.to_v_ip.weight"] = _rand(g, h, ctx, scale=4.0)
            if lora:
                for proj_name in ("to_q", "to_k", "to_v", "to_out"):
                    d_in = ctx if (n % 2 and proj_name in ("to_k", "to_v")) else h
                    ip[f"{n}.{proj_name}_lora.down.weight"] = _rand(g, LORA_RANK, d_in)
                    ip[f"{n}.{proj_name}_lora.up.weight"] = _rand(g, h, LORA_RANK)
    return {
        "image_proj": {k: v.to(dtype) for k, v in proj.items()},
        "ip_adapter": {k: v.to(dtype) for k, v in ip.items()},
    }


CLIP_VISION = {
    "attention_dropout": 0.0,
    "dropout": 0.0,
    "hidden_act": "gelu",
    "hidden_size": 48,
    "image_size": 224,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 96,
    "layer_norm_eps": 1e-05,
    "model_type": "clip_vision_model",
    "num_attention_heads": 2,
    "num_channels": 3,
    "num_hidden_layers": 3,
    "patch_size": 14,
    "projection_dim": 16,
    "torch_dtype": "float32",
}


def build_clip_vision(folder: Path, seed: int = 11):
    """A tiny ViT CLIP vision model (ComfyUI's ``ClipVisionModel`` from a config json written to
    ``folder``, the real layout with width 48, 3 layers, 224 px input in 14 px patches: 257 tokens),
    deterministic weights: what Load CLIP Vision gives, but tiny."""
    import json

    import comfy.clip_vision

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "tiny_clip_vision.json"
    config.write_text(json.dumps(CLIP_VISION))
    clip_vision = comfy.clip_vision.ClipVisionModel(str(config))
    _fill(clip_vision.model, seed)
    return clip_vision


def faceid_plus_state_dict(
    family: str, seed: int = 0, clip_width: int = CLIP_VISION["hidden_size"], depth: int = 4, dtype=torch.float16
) -> dict:
    """IP-Adapter FaceID Plus / PlusV2's layout (the two are the same) for the tiny ``family`` model:
    ``image_proj`` = FaceID's MLP (``proj.0``, ``proj.2``, ``norm``; 4 tokens of the text width C) and
    ``perceiver_resampler.{proj_in (from clip_width), proj_out, norm_out, layers.N.0.{norm1, norm2, to_q,
    to_kv, to_out}, layers.N.1.{0, 1, 3}}`` (width C, attention 64 wide: one head); ``ip_adapter`` as
    FaceID's, with its LoRA."""
    g = torch.Generator().manual_seed(seed + 100)
    base = faceid_state_dict(family, seed, lora=True, tokens=4, dtype=torch.float32)
    dim = FAMILY[family]["context"]
    inner = 64
    pre = "perceiver_resampler."
    proj = dict(base["image_proj"])
    proj.update(
        {
            f"{pre}proj_in.weight": _rand(g, dim, clip_width),
            f"{pre}proj_in.bias": 0.1 * torch.randn(dim, generator=g),
            f"{pre}proj_out.weight": _rand(g, dim, dim),
            f"{pre}proj_out.bias": 0.1 * torch.randn(dim, generator=g),
            f"{pre}norm_out.weight": 1 + 0.1 * torch.randn(dim, generator=g),
            f"{pre}norm_out.bias": 0.1 * torch.randn(dim, generator=g),
        }
    )
    for n in range(depth):
        p = f"{pre}layers.{n}."
        for norm in ("0.norm1", "0.norm2", "1.0"):
            proj[f"{p}{norm}.weight"] = 1 + 0.1 * torch.randn(dim, generator=g)
            proj[f"{p}{norm}.bias"] = 0.1 * torch.randn(dim, generator=g)
        proj[f"{p}0.to_q.weight"] = _rand(g, inner, dim)
        proj[f"{p}0.to_kv.weight"] = _rand(g, 2 * inner, dim)
        proj[f"{p}0.to_out.weight"] = _rand(g, dim, inner)
        proj[f"{p}1.1.weight"] = _rand(g, 4 * dim, dim)
        proj[f"{p}1.3.weight"] = _rand(g, dim, 4 * dim)
    return {
        "image_proj": {k: v.to(dtype) for k, v in proj.items()},
        "ip_adapter": {k: v.to(dtype) for k, v in base["ip_adapter"].items()},
    }


def instantid_state_dict(seed: int = 0, dim: int = 64, depth: int = 4) -> dict:
    """InstantID's layout (``image_proj``: Resampler with ``latents`` [1,16,dim], ``proj_in`` from 512,
    ``layers.N.0.{norm1,norm2,to_q,to_kv,to_out}``, ``layers.N.1.{0,1,3}``, ``proj_out``, ``norm_out``;
    ``ip_adapter``: ``{n}.to_k_ip`` / ``{n}.to_v_ip`` for the 70 odd n of SDXL), tiny widths, fp32."""
    g = torch.Generator().manual_seed(seed)
    out_dim, hidden = SDXL_CONTEXT, SDXL_HIDDEN
    proj = {
        "latents": torch.randn(1, 16, dim, generator=g) / dim**0.5,
        "proj_in.weight": _rand(g, dim, 512),
        "proj_in.bias": torch.zeros(dim),
        "proj_out.weight": _rand(g, out_dim, dim),
        "proj_out.bias": torch.zeros(out_dim),
        "norm_out.weight": torch.ones(out_dim),
        "norm_out.bias": torch.zeros(out_dim),
    }
    for n in range(depth):
        p = f"layers.{n}."
        for norm in ("0.norm1", "0.norm2", "1.0"):
            proj[f"{p}{norm}.weight"] = torch.ones(dim)
            proj[f"{p}{norm}.bias"] = torch.zeros(dim)
        proj[f"{p}0.to_q.weight"] = _rand(g, dim, dim)
        proj[f"{p}0.to_kv.weight"] = _rand(g, 2 * dim, dim)
        proj[f"{p}0.to_out.weight"] = _rand(g, dim, dim)
        proj[f"{p}1.1.weight"] = _rand(g, 4 * dim, dim)
        proj[f"{p}1.3.weight"] = _rand(g, dim, 4 * dim)
    ip = {}
    for i, h in enumerate(hidden):
        ip[f"{2 * i + 1}.to_k_ip.weight"] = _rand(g, h, out_dim, scale=4.0)
        ip[f"{2 * i + 1}.to_v_ip.weight"] = _rand(g, h, out_dim, scale=4.0)
    return {"image_proj": proj, "ip_adapter": ip}


def save_bin(sd: dict, path: Path) -> Path:
    """A ``.bin`` as published: a torch pickle of plain tensors (loadable weights-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, str(path))
    return path


def save_flat_safetensors(sd: dict, path: Path) -> Path:
    """The ``.safetensors`` form: one flat dict with ``image_proj.`` / ``ip_adapter.`` key prefixes."""
    from safetensors.torch import save_file

    flat = {f"{group}.{k}": v.contiguous() for group, tensors in sd.items() for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(flat, str(path))
    return path


def build_controlnet(path: Path, seed: int = 5) -> Path:
    """An SDXL-layout ControlNet (ldm key names: ``input_hint_block``, ``zero_convs``, ``middle_block_out``,
    ...) for the tiny SDXL model, with a 3-channel hint input like InstantID's IdentityNet."""
    import comfy.cldm.cldm
    from safetensors.torch import save_file

    config = {k: v for k, v in SDXL_UNET.items() if k != "out_channels"}
    net = comfy.cldm.cldm.ControlNet(hint_channels=3, num_head_channels=16, **config)
    _fill(net, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def faceid_lora_state_dict(model, seed: int = 3, rank: int = LORA_RANK) -> dict[str, torch.Tensor]:
    """FaceID's separate LoRA file's layout for a loaded ``model`` (ModelPatcher): fp16
    ``lora_unet_<diffusers module path, dots as underscores>.lora_down.weight`` / ``.lora_up.weight`` for
    attn1 and attn2 ``to_q``, ``to_k``, ``to_v``, ``to_out_0`` of every transformer block, no alpha."""
    import re

    import comfy.utils

    g = torch.Generator().manual_seed(seed)
    weights = model.model.state_dict()
    out = {}
    for diffusers_key, ldm_key in comfy.utils.unet_to_diffusers(model.model.model_config.unet_config).items():
        if not re.search(r"\.attn[12]\.(to_q|to_k|to_v|to_out\.0)\.weight$", diffusers_key):
            continue
        d_out, d_in = weights[f"diffusion_model.{ldm_key}"].shape
        name = "lora_unet_" + diffusers_key[: -len(".weight")].replace(".", "_")
        out[f"{name}.lora_down.weight"] = _rand(g, rank, d_in).half()
        out[f"{name}.lora_up.weight"] = _rand(g, d_out, rank).half()
    return out


def _ldm_identitynet(seed: int) -> dict[str, torch.Tensor]:
    import comfy.cldm.cldm

    config = {k: v for k, v in SDXL_UNET.items() if k != "out_channels"}
    net = comfy.cldm.cldm.ControlNet(hint_channels=3, num_head_channels=16, **config)
    _fill(net, seed)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def build_diffusers_identitynet(path: Path, seed: int = 5, dtype=torch.float16) -> Path:
    """InstantID's IdentityNet as published: a **diffusers** ``ControlNetModel`` file
    (``conv_in``, ``time_embedding``, ``add_embedding``, ``down_blocks.*``, ``mid_block``,
    ``controlnet_cond_embedding.{conv_in,blocks.j,conv_out}``, ``controlnet_down_blocks.i``,
    ``controlnet_mid_block``), fp16, with its ``config.json`` next to it, for the tiny SDXL. The names are
    ComfyUI's own diffusers→ldm mapping (``comfy.utils.unet_to_diffusers`` and the ControlNet renames of
    ``comfy.controlnet``) run backwards, so ComfyUI's loader converts it back on its own path.
    The weights equal ``build_controlnet(seed=seed)``'s."""
    import json

    import comfy.utils
    from safetensors.torch import save_file

    ldm = _ldm_identitynet(seed)
    to_ldm = dict(comfy.utils.unet_to_diffusers(dict(SDXL_UNET)))
    to_ldm["controlnet_mid_block.weight"] = "middle_block_out.0.weight"
    to_ldm["controlnet_mid_block.bias"] = "middle_block_out.0.bias"
    zero_convs = sorted({int(k.split(".")[1]) for k in ldm if k.startswith("zero_convs.")})
    for i in zero_convs:
        for s in ("weight", "bias"):
            to_ldm[f"controlnet_down_blocks.{i}.{s}"] = f"zero_convs.{i}.0.{s}"
    hint = sorted({int(k.split(".")[1]) for k in ldm if k.startswith("input_hint_block.")})
    for j, index in enumerate(hint):
        name = "conv_in" if j == 0 else ("conv_out" if j == len(hint) - 1 else f"blocks.{j - 1}")
        for s in ("weight", "bias"):
            to_ldm[f"controlnet_cond_embedding.{name}.{s}"] = f"input_hint_block.{index}.{s}"
    # ComfyUI maps both ``class_embedding.*`` and ``add_embedding.*`` to ``label_emb``, in an order that
    # follows string hashing: the published SDXL file uses ``add_embedding``, so that name wins, always
    from_ldm = {v: k for k, v in sorted(to_ldm.items(), key=lambda kv: kv[0].startswith("add_embedding"))}
    missing = [k for k in ldm if k not in from_ldm]
    if missing:
        raise ValueError(f"no diffusers name for {missing[:5]}")
    sd = {from_ldm[k]: v.to(dtype) for k, v in ldm.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path))
    config = {
        "_class_name": "ControlNetModel",
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": 256,
        "block_out_channels": [SDXL_UNET["model_channels"] * m for m in SDXL_UNET["channel_mult"]],
        "conditioning_channels": 3,
        "cross_attention_dim": SDXL_CONTEXT,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    }
    (path.parent / "config.json").write_text(json.dumps(config, indent=1))
    return path
