"""Depth networks inside ComfyUI: which are installed, loading each once, and handing it to ComfyUI's
memory manager (a ``ModelPatcher``), so ComfyUI loads it to the GPU when needed and unloads it when
another model needs the room."""

from __future__ import annotations

import os
from pathlib import Path

import comfy.model_management as mm
import comfy.model_patcher
import folder_paths
import torch

from portraitos.engine.core.safe_paths import PathError, UnsafePathError, check_name, resolve_inside
from portraitos.engine.depth import (
    PRIOR,
    DepthNetwork,
    ModelFileError,
    hf_folder_kind,
    load_depth_anything_single_file,
    load_hf_folder,
)
from portraitos.engine.depth.networks import network_dtype

from . import model_folders  # noqa: F401  (registers models/depth and models/depthanything)
from .model_cache import CACHE
from .model_sources import README_MODELS


class _Held(torch.nn.Module):
    """A network as ComfyUI's ModelPatcher holds it (the patcher sets attributes such as ``device``,
    which transformers models expose read-only)."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network


CACHE_KIND = "depth network"  # one kept at a time: they are large


def available_models() -> list[str]:
    """Dropdown entries: the weight-free prior, HF folders in models/depth/, single files in models/depthanything/."""
    names = [PRIOR]
    for base in folder_paths.get_folder_paths("depth"):
        if os.path.isdir(base):
            for entry in sorted(os.listdir(base)):
                if hf_folder_kind(Path(base) / entry) in ("depth_pro", "depth_anything"):
                    names.append(f"depth/{entry}")
    for f in folder_paths.get_filename_list("depthanything"):
        if f.endswith(".safetensors"):
            names.append(f"depthanything/{f}")
    return names


def resolve(name: str) -> tuple[str, Path]:
    """``("hf", folder)`` or ``("single", file)`` for a dropdown entry; the path always lies inside a
    registered ``depth``/``depthanything`` model folder (symlinks resolved), else ModelFileError."""
    kind, _, rest = name.partition("/") if isinstance(name, str) else ("", "", "")
    if kind == "depth":
        try:
            check_name(rest, "depth model folder")
            if "/" in rest.replace("\\", "/"):
                raise UnsafePathError(f"depth model folder {rest!r} must be a folder directly in models/depth/")
            return "hf", resolve_inside(folder_paths.get_folder_paths("depth"), rest, "depth model folder", "dir")
        except UnsafePathError as e:
            raise ModelFileError(f"model {name!r} refused: {e}") from None
        except PathError:
            raise ModelFileError(
                f"depth model folder {rest!r} not found: put config.json + model.safetensors "
                f"(+ preprocessor_config.json) into ComfyUI/models/depth/{rest}/; where to get them: {README_MODELS}"
            ) from None
    if kind == "depthanything":
        try:
            path = resolve_inside(folder_paths.get_folder_paths("depthanything"), rest, "depth model file", "file")
        except UnsafePathError as e:
            raise ModelFileError(f"model {name!r} refused: {e}") from None
        except PathError:
            raise ModelFileError(
                f"{rest!r} not found: put the file into ComfyUI/models/depthanything/; where to get it: {README_MODELS}"
            ) from None
        return "single", path
    raise ModelFileError(f"unknown depth model {name!r}; choose one from the list")


def load_network(name: str, precision: str) -> tuple[DepthNetwork, comfy.model_patcher.ModelPatcher]:
    """Load (once) a network in the dtype ``precision`` gives on ComfyUI's device, wrapped for ComfyUI's
    memory manager. One network is kept at a time."""
    device = mm.get_torch_device()
    dtype = network_dtype(precision, device)

    def load() -> tuple[DepthNetwork, comfy.model_patcher.ModelPatcher]:
        kind, path = resolve(name)
        net = load_hf_folder(path, dtype) if kind == "hf" else load_depth_anything_single_file(path, dtype)
        net.model.to(mm.unet_offload_device())
        patcher = comfy.model_patcher.ModelPatcher(
            _Held(net.model),
            load_device=device,
            offload_device=mm.unet_offload_device(),
            size=mm.module_size(net.model),
        )
        return net, patcher

    return CACHE.get(CACHE_KIND, (name, str(dtype)), load, keep=1)


def network_on_device(name: str, precision: str) -> DepthNetwork:
    """The network, loaded to the compute device through ComfyUI (which may first unload other models)."""
    net, patcher = load_network(name, precision)
    mm.load_models_gpu([patcher])
    return net
