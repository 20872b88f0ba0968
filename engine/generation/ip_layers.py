"""The adapters' per-layer weights and where they go in a UNet.

Adapters number the UNet's attention processors in diffusers order: down blocks, then up blocks,
then the middle block; inside each transformer block attn1 (self-attention) is even and attn2
(cross-attention) odd. Identity key/value projections ``{n}.to_k_ip`` / ``{n}.to_v_ip`` exist for
odd n; FaceID's LoRA ``{n}.to_{q,k,v,out}_lora.{down,up}`` for every n.

``cross_attention_sites`` lists a ComfyUI-layout (ldm) UNet's transformer blocks in that order, with
the ``(block, index, transformer_index)`` key ComfyUI's attention-replacement patches use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LORA_TARGETS = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"}


@dataclass(frozen=True)
class Site:
    """One transformer block: its patch key, its module path in the UNet and its widths."""

    key: tuple[str, int, int]  # ("input", 4, 0), ("middle", 0, 3), ("output", 2, 9)
    path: str  # "input_blocks.4.1.transformer_blocks.0"
    hidden: int  # attention width (attn2.to_k out-features)
    context: int  # text-token width (attn2.to_k in-features)


def cross_attention_sites(unet: nn.Module) -> list[Site]:
    """The transformer blocks of an ldm-layout UNet (``input_blocks`` / ``middle_block`` /
    ``output_blocks``) in the adapters' order: input blocks, output blocks, middle block."""
    groups: dict[str, list[Site]] = {"input": [], "output": [], "middle": []}
    for name, module in unet.named_modules():
        if not hasattr(module, "attn2") or not hasattr(module, "attn1"):
            continue
        parts = name.split(".")
        if "transformer_blocks" not in parts:
            continue
        t = int(parts[parts.index("transformer_blocks") + 1])
        if parts[0] == "input_blocks":
            block = ("input", int(parts[1]))
        elif parts[0] == "output_blocks":
            block = ("output", int(parts[1]))
        elif parts[0] == "middle_block":
            block = ("middle", 0)
        else:
            continue
        attn = module.attn2
        groups[block[0]].append(Site((*block, t), name, attn.to_k.out_features, attn.to_k.in_features))
    for sites in groups.values():
        sites.sort(key=lambda s: (s.key[1], s.key[2]))
    return groups["input"] + groups["output"] + groups["middle"]


class IPLayer(nn.Module):
    """One cross-attention layer's identity projections: tokens ``[B,T,C]`` → keys/values ``[B,T,hidden]``."""

    def __init__(self, tokens_width: int, hidden: int):
        super().__init__()
        self.to_k_ip = nn.Linear(tokens_width, hidden, bias=False)
        self.to_v_ip = nn.Linear(tokens_width, hidden, bias=False)


def build_ip_layers(sd: dict[str, torch.Tensor]) -> nn.ModuleDict:
    """The ``{n}.to_k_ip`` / ``{n}.to_v_ip`` weights of an ``ip_adapter`` group as a ModuleDict keyed by
    ``str(n)``, holding the given tensors themselves (LoRA weights are left out: see ``lora_pairs``)."""
    layers = nn.ModuleDict()
    for n in sorted({int(k.split(".")[0]) for k in sd if k.endswith("to_k_ip.weight")}):
        w = sd[f"{n}.to_k_ip.weight"]
        with torch.device("meta"):  # no memory until the weights are assigned
            layers[str(n)] = IPLayer(w.shape[1], w.shape[0])
    weights = {k: v for k, v in sd.items() if ".to_k_ip." in k or ".to_v_ip." in k}
    # assign: the parameters are the given tensors (no second copy of the weights), in their dtype
    layers.load_state_dict(weights, strict=True, assign=True)
    return layers


def lora_pairs(sd: dict[str, torch.Tensor], sites: list[Site]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """FaceID's in-file LoRA as ``{UNet weight key (diffusion_model.…): (up, down)}``; processor n is
    site ``n // 2``, attn1 for even n and attn2 for odd n."""
    out = {}
    for k in sd:
        if not k.endswith("_lora.down.weight"):
            continue
        n_str, proj = k.split(".")[:2]
        n, target = int(n_str), LORA_TARGETS[proj[: -len("_lora")]]
        if n // 2 >= len(sites):
            raise ValueError(f"LoRA weight {k} names processor {n}, but the model has {2 * len(sites)}")
        site = sites[n // 2]
        key = f"diffusion_model.{site.path}.attn{1 + n % 2}.{target}.weight"
        out[key] = (sd[k.replace(".down.", ".up.")], sd[k])
    return out
