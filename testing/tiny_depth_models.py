"""Tiny, randomly initialised depth networks with the real architectures, written to disk in the
layouts users have (Hugging Face folders, original Depth Anything V2 single files)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch


def tiny_depth_anything(depth_type: str = "relative", seed: int = 0):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    # one head per 64 channels, as in the released ViT-S/B/L models (heads cannot be read off the weights)
    backbone = Dinov2Config(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=1,
        mlp_ratio=2,
        patch_size=14,
        image_size=98,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
        apply_layernorm=True,
        layerscale_value=1.0,
    )
    cfg = DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        reassemble_hidden_size=64,
        head_hidden_size=8,
        patch_size=14,
        depth_estimation_type=depth_type,
        max_depth=20,
    )
    model = DepthAnythingForDepthEstimation(cfg).eval()
    # larger random weights in neck and head, so the untrained network's output varies over the image
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("neck.", "head.")) and p.dim() > 1:
                p.normal_(0.0, 0.3)
        model.head.conv3.bias.fill_(0.5)
    return model


def tiny_depth_pro(seed: int = 0):
    from transformers import DepthProConfig, DepthProForDepthEstimation

    torch.manual_seed(seed)

    def sub():
        return dict(
            model_type="dinov2",
            hidden_size=32,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=64,
            patch_size=16,
            image_size=64,
        )

    cfg = DepthProConfig(
        fusion_hidden_size=16,
        patch_size=64,
        intermediate_hook_ids=[3, 1],
        intermediate_feature_dims=[8, 8],
        scaled_images_ratios=[0.25, 0.5, 1],
        scaled_images_overlap_ratios=[0.0, 0.5, 0.25],
        scaled_images_feature_dims=[32, 32, 16],
        use_fov_model=True,
        num_fov_head_layers=2,
        image_model_config=sub(),
        patch_model_config=sub(),
        fov_model_config=sub(),
    )
    return DepthProForDepthEstimation(cfg).eval()


def save_hf_folder(model, folder: Path, input_size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    kind = model.config.model_type
    pre = {"size": {"height": input_size, "width": input_size}}
    if kind == "depth_pro":
        pre.update(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    return folder


def to_original_layout(model) -> dict[str, torch.Tensor]:
    """The inverse of the loader's key map: a transformers Depth Anything state dict written the way
    the original Depth Anything V2 repository names its tensors."""
    out = {}
    sd = model.state_dict()
    fixed = {
        "backbone.embeddings.cls_token": "pretrained.cls_token",
        "backbone.embeddings.mask_token": "pretrained.mask_token",
        "backbone.embeddings.position_embeddings": "pretrained.pos_embed",
        "backbone.embeddings.patch_embeddings.projection.weight": "pretrained.patch_embed.proj.weight",
        "backbone.embeddings.patch_embeddings.projection.bias": "pretrained.patch_embed.proj.bias",
        "backbone.layernorm.weight": "pretrained.norm.weight",
        "backbone.layernorm.bias": "pretrained.norm.bias",
        "head.conv1.weight": "depth_head.scratch.output_conv1.weight",
        "head.conv1.bias": "depth_head.scratch.output_conv1.bias",
        "head.conv2.weight": "depth_head.scratch.output_conv2.0.weight",
        "head.conv2.bias": "depth_head.scratch.output_conv2.0.bias",
        "head.conv3.weight": "depth_head.scratch.output_conv2.2.weight",
        "head.conv3.bias": "depth_head.scratch.output_conv2.2.bias",
    }
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        if k in fixed:
            out[fixed[k]] = v.clone()
            continue
        m = re.fullmatch(r"backbone\.encoder\.layer\.(\d+)\.(.+)", k)
        if m:
            i, rest = m.groups()
            base = f"pretrained.blocks.{i}"
            # transformers 4.x names, then 5.x names
            m2 = re.fullmatch(r"attention\.(?:attention\.(query|key|value)|(q|k|v)_proj)\.(weight|bias)", rest)
            if m2:
                part = m2[1] or {"q": "query", "k": "key", "v": "value"}[m2[2]]
                qkv.setdefault((base, m2[3]), {})[part] = v
                continue
            rest = (
                rest.replace("attention.output.dense", "attn.proj")
                .replace("attention.o_proj", "attn.proj")
                .replace("layer_scale1.lambda1", "ls1.gamma")
                .replace("layer_scale2.lambda1", "ls2.gamma")
            )
            out[f"{base}.{rest}"] = v.clone()
            continue
        m = re.fullmatch(r"neck\.reassemble_stage\.layers\.(\d)\.(projection|resize)\.(weight|bias)", k)
        if m:
            out[f"depth_head.{'projects' if m[2] == 'projection' else 'resize_layers'}.{m[1]}.{m[3]}"] = v.clone()
            continue
        m = re.fullmatch(r"neck\.convs\.(\d)\.weight", k)
        if m:
            out[f"depth_head.scratch.layer{int(m[1]) + 1}_rn.weight"] = v.clone()
            continue
        m = re.fullmatch(r"neck\.fusion_stage\.layers\.(\d)\.(.+)\.(weight|bias)", k)
        if m:
            part = {
                "projection": "out_conv",
                "residual_layer1.convolution1": "resConfUnit1.conv1",
                "residual_layer1.convolution2": "resConfUnit1.conv2",
                "residual_layer2.convolution1": "resConfUnit2.conv1",
                "residual_layer2.convolution2": "resConfUnit2.conv2",
            }[m[2]]
            out[f"depth_head.scratch.refinenet{4 - int(m[1])}.{part}.{m[3]}"] = v.clone()
            continue
        raise KeyError(k)
    for (base, leaf), parts in qkv.items():
        out[f"{base}.attn.qkv.{leaf}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0).clone()
    return out


def seeded_original_state(depth_type: str = "relative", seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny Depth Anything V2 in the original repository's layout, every tensor drawn by NumPy in name
    order: the same weights whatever transformers release is installed (its initialisers and its
    tensor names differ between releases)."""
    import numpy as np

    state = to_original_layout(tiny_depth_anything(depth_type))
    rng = np.random.default_rng(seed)
    for name in sorted(state):
        t = state[name]
        if name.endswith(("norm1.weight", "norm2.weight", "pretrained.norm.weight")):
            values = 1.0 + 0.1 * rng.standard_normal(t.shape)
        elif name.endswith("gamma"):
            values = np.ones(t.shape)
        elif name.startswith("depth_head.") and t.dim() > 1:
            values = 0.1 * rng.standard_normal(t.shape)
        else:
            values = 0.05 * rng.standard_normal(t.shape)
        state[name] = torch.from_numpy(values).to(t.dtype)
    state["depth_head.scratch.output_conv2.2.bias"].fill_(0.5)
    return state


def seeded_file_name(depth_type: str) -> str:
    """The published file names: the metric variants say so."""
    if depth_type == "metric":
        return "depth_anything_v2_metric_hypersim_vits.safetensors"
    return "depth_anything_v2_vits.safetensors"


REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny_depth_anything_reference.npz"


def reference_picture() -> torch.Tensor:
    """IMAGE ``[1,80,112,3]``: a smooth gradient with a bright square, the same on every machine."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 80), torch.linspace(0, 1, 112), indexing="ij")
    img = torch.stack([xs, ys, 0.5 * (xs + ys)], -1)
    img[20:50, 40:80] = torch.tensor([0.9, 0.8, 0.7])
    return img[None]


def write_reference(path: Path = REFERENCE) -> None:
    """Depth of the seeded tiny Depth Anything V2 (relative and metric, loaded from the original single
    file) on ``reference_picture()`` under the installed transformers, stored so that another release's
    output can be compared with it."""
    import tempfile

    import numpy as np
    import transformers
    from safetensors.torch import save_file

    import portraitos.engine.depth as depth

    out = {"transformers_version": np.array(transformers.__version__)}
    for kind in ("relative", "metric"):
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / seeded_file_name(kind)
            save_file(seeded_original_state(kind), str(file))
            net = depth.load_depth_anything_single_file(file)
            net.input_size = 56
            out[kind] = depth.predict(net, reference_picture(), torch.device("cpu")).values.numpy()
    np.savez_compressed(path, **out)


if __name__ == "__main__":
    write_reference()
    print(f"wrote {REFERENCE}")
