"""CPU memory an identity adapter holds once loaded, at the published InstantID shapes: one copy of the
weights now, against the previous release's layout (the raw state dict kept beside a copied layer set), and
what is left after ComfyUI's model management unloads it.

    .venv/bin/python benchmarks/bench_identity_memory.py [--scale 1] [--dtype float32]

Writes an adapter with InstantID's published layout (Resampler dim 1280 → 16 tokens of 2048, 70 attention
layers of 640 / 1280; ``--scale 2`` halves every width) as a flat ``.safetensors`` of random weights into a
temporary folder, then in one process:

1. ``held``: bytes of the distinct tensor storages the cached adapter holds (``services.identity_adapters.
   load_adapter``), and the process's resident memory (RSS) before and after loading;
2. ``previous layout``: the same file kept as the previous release kept it (its ``ip_adapter`` state dict
   plus the layers built by copying it), counted the same way;
3. ``after unload``: the adapter loaded by ComfyUI's ``load_models_gpu`` (as sampling loads it), then
   ``unload_all_models`` (what "Unload models" and memory pressure call): whether the cache still holds it
   and the RSS once the caller's references are gone.

RSS is noisy on a loaded machine (the allocator keeps freed pages); the storage counts are exact.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from pathlib import Path

import psutil

GB = 1024**3
SDXL_HIDDEN = [640] * 4 + [1280] * 20 + [1280] * 30 + [640] * 6 + [1280] * 10  # attn2 widths, processor order


def instantid_layout(scale: int, dtype) -> dict:
    """A flat state dict with InstantID's published keys and shapes (widths divided by ``scale``)."""
    import torch

    dim, out, ff = 1280 // scale, 2048 // scale, 4 * 1280 // scale
    t = {
        "image_proj.latents": torch.randn(1, 16, dim),
        "image_proj.proj_in.weight": torch.randn(dim, 512) * 0.02,
        "image_proj.proj_in.bias": torch.zeros(dim),
        "image_proj.proj_out.weight": torch.randn(out, dim) * 0.02,
        "image_proj.proj_out.bias": torch.zeros(out),
        "image_proj.norm_out.weight": torch.ones(out),
        "image_proj.norm_out.bias": torch.zeros(out),
    }
    for n in range(4):
        p = f"image_proj.layers.{n}."
        for k in ("0.norm1", "0.norm2", "1.0"):
            t[f"{p}{k}.weight"] = torch.ones(dim)
            t[f"{p}{k}.bias"] = torch.zeros(dim)
        t[f"{p}0.to_q.weight"] = torch.randn(dim, dim) * 0.02
        t[f"{p}0.to_kv.weight"] = torch.randn(2 * dim, dim) * 0.02
        t[f"{p}0.to_out.weight"] = torch.randn(dim, dim) * 0.02
        t[f"{p}1.1.weight"] = torch.randn(ff, dim) * 0.02
        t[f"{p}1.3.weight"] = torch.randn(dim, ff) * 0.02
    for i, h in enumerate(SDXL_HIDDEN):
        t[f"ip_adapter.{2 * i + 1}.to_k_ip.weight"] = torch.randn(h // scale, out) * 0.02
        t[f"ip_adapter.{2 * i + 1}.to_v_ip.weight"] = torch.randn(h // scale, out) * 0.02
    return {k: v.to(dtype).contiguous() for k, v in t.items()}


def storages(*groups) -> int:
    """Bytes of the distinct storages of the tensors in ``groups``."""
    seen: dict[int, int] = {}
    for group in groups:
        for tensor in group:
            s = tensor.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
    return sum(seen.values())


def rss() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / GB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1, help="divide every width by this (1: the published shapes)")
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="the file's dtype")
    opts = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    from portraitos.testing.comfy_host import load_in_process

    tmp = Path(tempfile.mkdtemp(prefix="bench_identity_memory_"))
    load_in_process(tmp / "in", tmp / "out")
    import comfy.model_management as mm
    import comfy.utils

    from portraitos.engine.generation import split_groups
    from portraitos.services import identity_adapters as ia
    from portraitos.services.model_cache import CACHE

    path = tmp / "instantid.safetensors"
    sd = instantid_layout(opts.scale, getattr(torch, opts.dtype))
    file_bytes = sum(v.numel() * v.element_size() for v in sd.values())
    ip_bytes = sum(v.numel() * v.element_size() for k, v in sd.items() if k.startswith("ip_adapter."))
    save_file(sd, str(path))
    del sd
    print(
        f"InstantID layout /{opts.scale}, {opts.dtype}: file {file_bytes / GB:.3f} GB "
        f"(attention layers {ip_bytes / GB:.3f} GB)"
    )

    base = rss()
    adapter = ia.load_adapter(path)
    loaded = rss()
    held = storages(adapter.layers.parameters(), adapter.ip_sd.values(), adapter.projection.parameters())
    print(f"now:        held {held / GB:.3f} GB; RSS +{loaded - base:.3f} GB")

    # the previous release's layout: the raw ip_adapter state dict kept, and layers built by copying it
    raw = comfy.utils.load_torch_file(str(path), safe_load=True)
    _proj, ip_sd = split_groups(raw)
    del raw
    with torch.device("cpu"):
        import torch.nn as nn

        from portraitos.engine.generation.ip_layers import IPLayer

        old_layers = nn.ModuleDict()
        for n in sorted({int(k.split(".")[0]) for k in ip_sd if k.endswith("to_k_ip.weight")}):
            w = ip_sd[f"{n}.to_k_ip.weight"]
            old_layers[str(n)] = IPLayer(w.shape[1], w.shape[0])
        old_layers.load_state_dict({k: v for k, v in ip_sd.items() if "_ip." in k}, strict=True)  # a copy
    old = storages(old_layers.parameters(), ip_sd.values(), adapter.projection.parameters())
    print(f"previous:   held {old / GB:.3f} GB (ip_adapter state dict + copied layers + projection)")
    del old_layers, ip_sd

    mm.load_models_gpu([adapter.patcher])  # as sampling loads it (an additional model of the patched UNet)
    in_cache = str(path) in CACHE.keys(ia.CACHE_KIND)
    mm.unload_all_models()
    still = str(path) in CACHE.keys(ia.CACHE_KIND)
    del adapter
    after = rss()
    print(
        f"unload:     cached before {in_cache}, after unload_all_models {still}; "
        f"RSS +{after - base:.3f} GB over the start"
    )
    print(f"ratio:      previous / now = {old / held:.2f}")


if __name__ == "__main__":
    main()
