"""DepthEstimate: metric depth from one image, edges that follow the image."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..engine.depth_estimation import PRIOR, EstimateSettings, estimate_depth
from ..engine.depth_io import depth_preview
from ..engine.depth_models import (DepthNetwork, ModelFileError, hf_folder_kind, load_depth_anything_single_file,
                                   load_hf_folder)
from ..engine.optics import DEFAULT_SENSOR, SENSORS
from . import runtime
from .types import CATEGORY, Depth

log = logging.getLogger("PortraitOS")

# model folders, registered with ComfyUI so extra_model_paths.yaml can add more
for _name in ("depth", "depthanything"):
    if _name not in folder_paths.folder_names_and_paths:
        folder_paths.add_model_folder_path(_name, os.path.join(folder_paths.models_dir, _name))

PRECISIONS = ["fp32", "fp16", "bf16"]
_cache: dict[tuple[str, str], DepthNetwork] = {}
_cache_lock = threading.Lock()


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


def _resolve(name: str) -> tuple[str, Path]:
    kind, _, rest = name.partition("/")
    if kind == "depth":
        for base in folder_paths.get_folder_paths("depth"):
            p = Path(base) / rest
            if p.is_dir():
                return "hf", p
        raise ModelFileError(f"depth model folder {rest!r} not found: put config.json + model.safetensors "
                             f"(+ preprocessor_config.json) into ComfyUI/models/depth/{rest}/")
    if kind == "depthanything":
        path = folder_paths.get_full_path("depthanything", rest)
        if path is None:
            raise ModelFileError(f"{rest!r} not found: put the file into ComfyUI/models/depthanything/")
        return "single", Path(path)
    raise ModelFileError(f"unknown depth model {name!r}; choose one from the list")


def load_network(name: str, precision: str) -> DepthNetwork:
    """Load (once) and cache a network on ComfyUI's offload device."""
    key = (name, precision)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        kind, path = _resolve(name)
        net = load_hf_folder(path) if kind == "hf" else load_depth_anything_single_file(path)
        net.model.to(runtime.offload_device())
        _cache.clear()  # keep one network resident at a time
        _cache[key] = net
        return net


def _dtype(precision: str, device: torch.device) -> torch.dtype:
    if device.type == "cpu":
        return torch.float32  # half precision on the CPU is slow and loses accuracy
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


class DepthEstimate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DepthEstimate",
            display_name="Depth Estimate (metric)",
            category=CATEGORY,
            description="Metric depth in metres from one image: Depth Pro / Depth Anything V2 from local files, or a "
                        "weight-free portrait prior. Edges refined along the image at full resolution.",
            inputs=[
                io.Image.Input("image"),
                io.Combo.Input("model", options=available_models(), default=PRIOR),
                io.Float.Input("subject_distance_m", default=0.0, min=0.0, max=100.0, step=0.01,
                               tooltip="0 = estimate from the face's size"),
                io.Float.Input("background_distance_m", default=6.0, min=0.2, max=1000.0, step=0.1,
                               tooltip="Far plane for relative models and the portrait prior"),
                io.Float.Input("focal_length_mm", default=85.0, min=10.0, max=400.0, step=1.0,
                               tooltip="The framing the depth should be consistent with (as in LensBokeh)"),
                io.Combo.Input("sensor", options=list(SENSORS), default=DEFAULT_SENSOR),
                io.Boolean.Input("refine_edges", default=True),
                io.Combo.Input("precision", options=PRECISIONS, default="fp32",
                               tooltip="fp16/bf16 only on GPUs; the CPU always runs fp32"),
            ],
            outputs=[
                Depth.Output(display_name="depth"),
                io.Image.Output(display_name="preview"),
                io.Mask.Output(display_name="subject_mask"),
            ],
        )

    @classmethod
    def validate_inputs(cls, model=PRIOR, **_) -> bool | str:
        if model == PRIOR:
            return True
        try:
            _resolve(model)
        except ModelFileError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, image, model=PRIOR, subject_distance_m=0.0, background_distance_m=6.0, focal_length_mm=85.0,
                sensor=DEFAULT_SENSOR, refine_edges=True, precision="fp32") -> io.NodeOutput:
        device = runtime.compute_device()
        settings = EstimateSettings(subject_distance_m, background_distance_m, focal_length_mm, sensor, refine_edges)
        net = None if model == PRIOR else load_network(model, precision)
        try:
            if net is not None:
                net.model.to(device)
            dm, matte = estimate_depth(image, settings, net, device=device, dtype=_dtype(precision, device),
                                       progress=runtime.progress_callback(image.shape[0]),
                                       check_interrupt=runtime.check_interrupt)
        finally:
            if net is not None:
                net.model.to(runtime.offload_device())
                runtime.free_memory()
        out = runtime.output_device()
        dm = type(dm)(dm.metres.to(out), dm.source, dm.meta)
        d = dm.metres[0]
        text = (f"{dm.meta.get('model', model)}: {dm.source}, {float(d.min()):.2f}–{float(d.max()):.2f} m, "
                f"subject {dm.meta.get('subject_distance_m', '?')} m")
        return io.NodeOutput(dm, depth_preview(dm.metres), matte.to(out), ui=ui.PreviewText(text))
