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
    is_depth_file,
    read_depth_file,
)
from portraitos.engine.depth.files import resolve_inside
from portraitos.services.readout import metres as metres_label
from portraitos.services.readout import node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_DEPTH, Depth
from portraitos.services.validation import SchemaChecked

NO_FILES = "(no depth file in input/: .npy, .exr or 16-bit .png)"


def _depth_files() -> list[str]:
    """Files in the input folder that can be read as depth (ordinary 8-bit photos are left out)."""
    base = folder_paths.get_input_directory()
    out = []
    for root, _dirs, files in os.walk(base):
        for f in files:
            path = os.path.join(root, f)
            if f.lower().endswith(DEPTH_EXTENSIONS) and is_depth_file(path):
                out.append(os.path.relpath(path, base).replace(os.sep, "/"))
    return sorted(out) or [NO_FILES]


class DepthLoad(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("depth file", "exr", "npy", "lidar", "measured depth")

    @classmethod
    def define_schema(cls) -> io.Schema:
        files = _depth_files()
        return io.Schema(
            node_id="DepthLoad",
            display_name="Portrait Depth Load (metric file)",
            category=CATEGORY_DEPTH,
            description="Load a measured depth map (metres from the lens) from ComfyUI's input folder, e.g. from a "
            "phone's portrait mode, a 3D render or a depth camera: .npy float array, OpenEXR (Z channel) or 16-bit "
            "grayscale PNG. For 8-bit depth pictures from other depth nodes use Depth Image to Portrait Depth.",
            inputs=[
                io.Combo.Input(
                    "depth",
                    options=files,
                    tooltip="A depth file in ComfyUI's input folder; only files that can be read as depth are "
                    "listed (.npy, .exr, 16-bit grayscale .png), not ordinary photos.",
                ),
                io.Float.Input(
                    "scale",
                    default=1.0,
                    min=1e-6,
                    max=1e6,
                    step=0.001,
                    tooltip="Metres per stored unit: 1 for a file in metres, 0.001 for a PNG in millimetres.",
                ),
            ],
            outputs=[
                Depth.Output(
                    display_name="depth",
                    tooltip="Distance from the lens of every pixel in metres, as measured (no lens assumed).",
                ),
                io.Image.Output(display_name="preview", tooltip="The depth as a picture: near = white, far = black."),
            ],
        )

    OWN_CHECKS = ("depth",)  # a file inside the input folder (no traversal), whatever the list shows

    @classmethod
    def check_inputs(cls, depth=None, **_) -> str | None:
        if depth is None:
            return None
        try:
            resolve_inside(folder_paths.get_input_directory(), depth)
        except DepthFileError as e:
            return str(e)
        return None

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
        preview = depth_preview(metres)
        near, far = float(metres.min()), float(metres.max())
        return io.NodeOutput(
            dm,
            preview,
            ui=node_ui(
                images=(preview,),
                lines=[f"{depth}: measured, {near:.2f}–{far:.2f} m"],
                labels={"depth": f"depth {metres_label(near)}–{metres_label(far)} (measured)"},
                values={"source": MEASURED, "near_m": near, "far_m": far, "file": depth},
            ),
        )
