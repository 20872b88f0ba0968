"""DepthLoad: read a metric depth map from ComfyUI's input folder."""

from __future__ import annotations

import hashlib
import os

import folder_paths
from comfy_api.latest import io

from portraitos.engine.depth import (
    DEPTH_EXTENSIONS,
    MEASURED,
    DepthFileError,
    DepthMap,
    clean_depth,
    depth_preview,
    read_depth_file,
)
from portraitos.engine.depth.files import resolve_inside

from . import checks
from .types import CATEGORY, Depth


def _depth_files() -> list[str]:
    base = folder_paths.get_input_directory()
    out = []
    for root, _dirs, files in os.walk(base):
        for f in files:
            if f.lower().endswith(DEPTH_EXTENSIONS):
                out.append(os.path.relpath(os.path.join(root, f), base).replace(os.sep, "/"))
    return sorted(out)


class DepthLoad(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        files = _depth_files()
        return io.Schema(
            node_id="DepthLoad",
            display_name="Depth Load (metric)",
            category=CATEGORY,
            description="Load a metric depth map (metres from the lens) from the input folder: "
            ".npy float array, OpenEXR (Z channel) or 16-bit grayscale PNG.",
            inputs=[
                io.Combo.Input(
                    "depth", options=files, tooltip="File in ComfyUI's input folder (.npy, .exr, 16-bit .png)"
                ),
                io.Float.Input(
                    "scale",
                    default=1.0,
                    min=1e-6,
                    max=1e6,
                    step=0.001,
                    tooltip="Metres per stored unit (e.g. 0.001 for a PNG in millimetres)",
                ),
            ],
            outputs=[
                Depth.Output(display_name="depth"),
                io.Image.Output(display_name="preview"),
            ],
        )

    @classmethod
    def validate_inputs(cls, depth: str, scale=None) -> bool | str:
        problem = checks.numbers(cls, scale=scale)
        if problem:
            return problem
        try:
            resolve_inside(folder_paths.get_input_directory(), depth)
        except DepthFileError as e:
            return str(e)
        return True

    @classmethod
    def fingerprint_inputs(cls, depth: str, scale: float = 1.0) -> str:
        try:
            path = resolve_inside(folder_paths.get_input_directory(), depth)
        except DepthFileError:
            return ""
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return f"{h.hexdigest()}:{scale}"

    @classmethod
    def execute(cls, depth: str, scale: float) -> io.NodeOutput:
        path = resolve_inside(folder_paths.get_input_directory(), depth)
        metres = clean_depth(read_depth_file(path, scale), what=f"depth file {depth!r}").unsqueeze(0)
        dm = DepthMap(metres, MEASURED, {"file": depth, "scale": scale})
        return io.NodeOutput(dm, depth_preview(metres))
