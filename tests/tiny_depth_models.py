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
        max_depth=20.0,
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
            m2 = re.fullmatch(r"attention\.attention\.(query|key|value)\.(weight|bias)", rest)
            if m2:
                qkv.setdefault((base, m2[2]), {})[m2[1]] = v
                continue
            rest = (
                rest.replace("attention.output.dense", "attn.proj")
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
