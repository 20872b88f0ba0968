"""Depth networks loaded from local files through ``transformers`` (never downloaded).

Supported:

* Hugging Face folders (``config.json`` + ``model.safetensors`` [+ ``preprocessor_config.json``]):
  Depth Pro (``DepthProForDepthEstimation``, metric, estimates the focal length) and Depth Anything
  V2 (``DepthAnythingForDepthEstimation``; relative disparity, or metric for the Indoor/Outdoor
  variants).
* Single-file Depth Anything V2 checkpoints in the original layout
  (``depth_anything_v2_vit{s,b,l}*.safetensors``), whose keys are mapped onto the transformers model.

``DepthPrediction.values`` is metres for metric models, relative disparity (larger = nearer) otherwise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


PRECISIONS = ("fp32", "fp16", "bf16")


def network_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype a network runs in: ``precision`` on GPUs; always float32 on the CPU, where half
    precision is slow and loses accuracy."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if torch.device(device).type == "cpu":
        return torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


class ModelFileError(ValueError):
    """A depth model that is missing or unusable; the message says which file goes where."""


@dataclass
class DepthNetwork:
    name: str
    kind: str  # "depth_pro" | "depth_anything"
    metric: bool
    model: torch.nn.Module
    input_size: int  # square side (Depth Pro) or target short side multiple of 14 (DA)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class DepthPrediction:
    values: torch.Tensor  # [B,h,w]: metres (metric) or relative disparity
    metric: bool
    focal_px: Optional[list[float]] = None  # Depth Pro's focal length estimate, in input pixels


# --- discovery ----------------------------------------------------------------------------


def hf_folder_kind(folder: Path) -> Optional[str]:
    cfg = folder / "config.json"
    if not cfg.is_file():
        return None
    try:
        model_type = json.loads(cfg.read_text()).get("model_type")
    except (OSError, json.JSONDecodeError):
        return "invalid"
    return model_type if model_type in ("depth_pro", "depth_anything") else None


# --- loading ------------------------------------------------------------------------------


def load_hf_folder(folder: Path, dtype: torch.dtype = torch.float32) -> DepthNetwork:
    """Load a Hugging Face layout folder with ``local_files_only`` and safetensors weights only."""
    from transformers import DepthAnythingForDepthEstimation, DepthProForDepthEstimation

    folder = Path(folder)
    kind = hf_folder_kind(folder)
    if kind is None or kind == "invalid":
        raise ModelFileError(f"{folder}: needs a readable config.json with model_type depth_pro or depth_anything")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelFileError(
            f"{folder}: model.safetensors is missing; put the model's model.safetensors next to its "
            "config.json (pickled .bin weights are not loaded)"
        )
    cls = DepthProForDepthEstimation if kind == "depth_pro" else DepthAnythingForDepthEstimation
    try:
        model = cls.from_pretrained(folder, local_files_only=True, use_safetensors=True, **_dtype_argument(dtype))
    except Exception as e:  # truncated or mismatched files
        raise ModelFileError(f"{folder}: could not load {cls.__name__} ({type(e).__name__}: {e})") from None
    model.eval()
    pre = _read_preprocessor(folder)
    if kind == "depth_pro":
        size = int(pre.get("size", {}).get("height", 1536))
        metric = True
    else:
        size = int(pre.get("size", {}).get("height", 518))
        metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"
    mean = tuple(pre.get("image_mean", IMAGENET_MEAN if kind == "depth_anything" else (0.5, 0.5, 0.5)))
    std = tuple(pre.get("image_std", IMAGENET_STD if kind == "depth_anything" else (0.5, 0.5, 0.5)))
    return DepthNetwork(folder.name, kind, metric, model, size, mean, std, {"path": str(folder)})


def _dtype_argument(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """``from_pretrained``'s precision argument: ``dtype`` from transformers 4.56 on (5.x knows no
    other), ``torch_dtype`` before."""
    from importlib.metadata import version

    major, minor = (int(part) for part in re.findall(r"\d+", version("transformers"))[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _read_preprocessor(folder: Path) -> dict:
    p = folder / "preprocessor_config.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{p}: not valid JSON ({e})") from None


_DA_LAYOUTS = {384: (6, [2, 5, 8, 11]), 768: (12, [2, 5, 8, 11]), 1024: (16, [4, 11, 17, 23])}


def depth_anything_v2_key_map(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an original Depth Anything V2 state dict (``pretrained.*``, ``depth_head.*``) to
    transformers' ``DepthAnythingForDepthEstimation`` names (qkv split into query/key/value)."""
    out: dict[str, torch.Tensor] = {}
    fixed = {
        "pretrained.cls_token": "backbone.embeddings.cls_token",
        "pretrained.mask_token": "backbone.embeddings.mask_token",
        "pretrained.pos_embed": "backbone.embeddings.position_embeddings",
        "pretrained.patch_embed.proj.weight": "backbone.embeddings.patch_embeddings.projection.weight",
        "pretrained.patch_embed.proj.bias": "backbone.embeddings.patch_embeddings.projection.bias",
        "pretrained.norm.weight": "backbone.layernorm.weight",
        "pretrained.norm.bias": "backbone.layernorm.bias",
        "depth_head.scratch.output_conv1.weight": "head.conv1.weight",
        "depth_head.scratch.output_conv1.bias": "head.conv1.bias",
        "depth_head.scratch.output_conv2.0.weight": "head.conv2.weight",
        "depth_head.scratch.output_conv2.0.bias": "head.conv2.bias",
        "depth_head.scratch.output_conv2.2.weight": "head.conv3.weight",
        "depth_head.scratch.output_conv2.2.bias": "head.conv3.bias",
    }
    block_parts = {
        "norm1": "norm1",
        "norm2": "norm2",
        "attn.proj": "attention.output.dense",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    }
    for key, val in state.items():
        if key in fixed:
            out[fixed[key]] = val
            continue
        m = re.fullmatch(r"pretrained\.blocks\.(\d+)\.(.+)\.(weight|bias|gamma)", key)
        if m:
            i, part, leaf = m.groups()
            base = f"backbone.encoder.layer.{i}"
            if part == "attn.qkv":
                q, k, v = val.chunk(3, dim=0)
                for name, t in (("query", q), ("key", k), ("value", v)):
                    out[f"{base}.attention.attention.{name}.{leaf}"] = t
            elif part in ("ls1", "ls2"):
                out[f"{base}.layer_scale{part[-1]}.lambda1"] = val
            elif part in block_parts:
                out[f"{base}.{block_parts[part]}.{leaf}"] = val
            else:
                raise ModelFileError(f"unexpected backbone key {key}")
            continue
        m = re.fullmatch(r"depth_head\.projects\.(\d)\.(weight|bias)", key)
        if m:
            out[f"neck.reassemble_stage.layers.{m[1]}.projection.{m[2]}"] = val
            continue
        m = re.fullmatch(r"depth_head\.resize_layers\.(\d)\.(weight|bias)", key)
        if m:
            out[f"neck.reassemble_stage.layers.{m[1]}.resize.{m[2]}"] = val
            continue
        m = re.fullmatch(r"depth_head\.scratch\.layer(\d)_rn\.weight", key)
        if m:
            out[f"neck.convs.{int(m[1]) - 1}.weight"] = val
            continue
        m = re.fullmatch(
            r"depth_head\.scratch\.refinenet(\d)\.(out_conv|resConfUnit1\.conv1|resConfUnit1\.conv2|"
            r"resConfUnit2\.conv1|resConfUnit2\.conv2)\.(weight|bias)",
            key,
        )
        if m:
            stage = 4 - int(m[1])  # refinenet4 (coarsest) is the first fusion layer
            part = {
                "out_conv": "projection",
                "resConfUnit1.conv1": "residual_layer1.convolution1",
                "resConfUnit1.conv2": "residual_layer1.convolution2",
                "resConfUnit2.conv1": "residual_layer2.convolution1",
                "resConfUnit2.conv2": "residual_layer2.convolution2",
            }[m[2]]
            out[f"neck.fusion_stage.layers.{stage}.{part}.{m[3]}"] = val
            continue
        raise ModelFileError(f"unexpected key {key!r}: not a Depth Anything V2 checkpoint in the original layout")
    return out


# transformers 5 names the DINOv2 attention projections like its other models; 4.x used these names
_ATTENTION_NAMES_5X = (
    (".attention.attention.query.", ".attention.q_proj."),
    (".attention.attention.key.", ".attention.k_proj."),
    (".attention.attention.value.", ".attention.v_proj."),
    (".attention.output.dense.", ".attention.o_proj."),
)


def _names_of_this_release(state: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """Tensor names of the Hugging Face checkpoint layout (``depth_anything_v2_key_map``'s output, as the
    published ``-hf`` files name them) renamed to what the installed transformers' model calls them."""
    out = {}
    for key, val in state.items():
        if key not in model_keys:
            for old, new in _ATTENTION_NAMES_5X:
                if old in key and key.replace(old, new) in model_keys:
                    key = key.replace(old, new)
                    break
        out[key] = val
    return out


def depth_anything_v2_config_from_state(state: dict[str, torch.Tensor], file_name: str):
    """A ``DepthAnythingConfig`` matching an original-layout state dict (sizes read from the tensors)."""
    from transformers import DepthAnythingConfig, Dinov2Config

    try:
        hidden = int(state["pretrained.cls_token"].shape[-1])
        patch = int(state["pretrained.patch_embed.proj.weight"].shape[-1])
        n_pos = int(state["pretrained.pos_embed"].shape[1]) - 1
        n_layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("pretrained.blocks."))
        mlp = int(state["pretrained.blocks.0.mlp.fc1.weight"].shape[0])
        neck = [int(state[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)]
        fusion = int(state["depth_head.scratch.layer1_rn.weight"].shape[0])
        head_hidden = int(state["depth_head.scratch.output_conv2.0.weight"].shape[0])
    except KeyError as e:
        raise ModelFileError(f"{file_name}: missing tensor {e}; not a Depth Anything V2 checkpoint") from None
    heads, hooks = _DA_LAYOUTS.get(hidden, (max(1, hidden // 64), None))
    if hooks is None or max(hooks) >= n_layers:
        hooks = [round((i + 1) * n_layers / 4) - 1 for i in range(4)]
    side = int(math.isqrt(n_pos))
    lower = file_name.lower()
    metric = "metric" in lower or "hypersim" in lower or "vkitti" in lower
    # metres; an int, as the published configs write it (transformers 5 validates the type strictly)
    max_depth = 80 if ("vkitti" in lower or "outdoor" in lower) else 20
    backbone = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=n_layers,
        num_attention_heads=heads,
        mlp_ratio=mlp // hidden,
        patch_size=patch,
        image_size=side * patch,
        out_indices=[h + 1 for h in hooks],
        reshape_hidden_states=False,
        apply_layernorm=True,
        layerscale_value=1.0,
    )
    return DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=neck,
        fusion_hidden_size=fusion,
        reassemble_hidden_size=hidden,
        head_hidden_size=head_hidden,
        patch_size=patch,
        depth_estimation_type="metric" if metric else "relative",
        max_depth=max_depth,
    )


def load_depth_anything_single_file(path: Path, dtype: torch.dtype = torch.float32) -> DepthNetwork:
    """Load an original-layout Depth Anything V2 ``.safetensors`` file into the transformers model."""
    from safetensors import SafetensorError  # type: ignore[attr-defined]  # exported at run time, not in the stub
    from safetensors.torch import load_file
    from transformers import DepthAnythingForDepthEstimation

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelFileError(f"{path.name}: only .safetensors checkpoints are loaded (pickled .pth files are refused)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(
            f"{path.name}: not a readable safetensors file ({e}); re-download it into ComfyUI/models/depthanything/"
        ) from None
    cfg = depth_anything_v2_config_from_state(state, path.name)
    model = DepthAnythingForDepthEstimation(cfg)
    mapped = _names_of_this_release(depth_anything_v2_key_map(state), set(model.state_dict()))
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        raise ModelFileError(
            f"{path.name}: weights do not fit Depth Anything V2 (missing {missing[:4]}, unexpected {unexpected[:4]})"
        )
    model.to(dtype).eval()
    return DepthNetwork(
        path.stem,
        "depth_anything",
        cfg.depth_estimation_type == "metric",
        model,
        518,
        meta={"path": str(path), "layout": "original single file"},
    )


# --- inference ----------------------------------------------------------------------------


def _prepare(net: DepthNetwork, image: torch.Tensor) -> torch.Tensor:
    """IMAGE ``[B,H,W,3]`` → normalised ``[B,3,h,w]`` at the network's input size."""
    x = image[..., :3].permute(0, 3, 1, 2).float()
    H, W = x.shape[-2:]
    if net.kind == "depth_pro":
        size = (net.input_size, net.input_size)
    else:
        patch = int(getattr(net.model.config, "patch_size", 14))
        s = net.input_size / min(H, W)
        size = (max(patch, round(H * s / patch) * patch), max(patch, round(W * s / patch) * patch))
    x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    mean = torch.tensor(net.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(net.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.inference_mode()
def predict(
    net: DepthNetwork,
    image: torch.Tensor,
    device: torch.device,
    check_interrupt: Optional[Callable[[], None]] = None,
) -> DepthPrediction:
    """Run the network (already on ``device``) on ``image [B,H,W,3]`` in the network's own dtype;
    output float32 at the network's resolution. ``check_interrupt()`` runs before every block of the
    network (each element of its module lists: transformer layers, fusion stages), so a cancel is
    honoured within a forward pass."""
    dtype = next(net.model.parameters()).dtype
    x = _prepare(net, image.to(device)).to(dtype)
    hooks = []
    if check_interrupt is not None:
        for m in net.model.modules():
            if isinstance(m, torch.nn.ModuleList):
                hooks += [block.register_forward_pre_hook(lambda *_: check_interrupt()) for block in m]
    try:
        out = net.model(pixel_values=x)
    finally:
        for h in hooks:
            h.remove()
    values = out.predicted_depth.float()
    if values.dim() == 4:
        values = values[:, 0]
    focal = None
    if net.kind == "depth_pro":
        fov = getattr(out, "field_of_view", None)
        if fov is not None:
            # focal length in input pixels from the horizontal field of view (degrees)
            w = x.shape[-1]
            # (an untrained or confused network can answer 0° or 180°: keep to a physical range)
            focal = [
                float(0.5 * w / math.tan(math.radians(min(max(float(f), 5.0), 170.0)) / 2)) for f in fov.reshape(-1)
            ]
        # Depth Pro predicts inverse depth normalised by the focal length; transformers' post-processing
        # turns it into metres the same way
        values = _depth_pro_metres(values, focal, x.shape[-1])
    return DepthPrediction(values, net.metric, focal)


def _depth_pro_metres(pred: torch.Tensor, focal: Optional[list[float]], width: int) -> torch.Tensor:
    """Depth Pro's raw output (canonical inverse depth) to metres, as its image processor does."""
    if focal is None:
        focal = [width / 2.0] * pred.shape[0]
    f = torch.tensor(focal, device=pred.device, dtype=pred.dtype).view(-1, 1, 1)
    inverse = pred / (f / width)
    return (1.0 / inverse.clamp(min=1e-4, max=1e4)).clamp(max=1e4)
