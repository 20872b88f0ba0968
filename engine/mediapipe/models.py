"""The MediaPipe models shipped with the pack (``models/mediapipe/*.safetensors``, Apache-2.0, see
``models/mediapipe/LICENSE-mediapipe``): where they are, and one loaded copy per device."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from .graph import TFLiteGraph, load_graph

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "mediapipe"
SELFIE_SEGMENTATION = "selfie_segmentation"  # person matte, input [1,256,256,3] RGB 0..1
FACE_DETECTION = "face_detection_short_range"  # BlazeFace, input [1,128,128,3] RGB -1..1
FACE_LANDMARK = "face_landmark"  # 468-point mesh, input [1,192,192,3] RGB 0..1
IRIS_LANDMARK = "iris_landmark"  # eye contour + iris, input [1,64,64,3] RGB 0..1
POSE_LANDMARK = "pose_landmark_full"  # BlazePose GHUM full, 39 landmarks + world metres, input [1,256,256,3] RGB 0..1
NAMES = (SELFIE_SEGMENTATION, FACE_DETECTION, FACE_LANDMARK, IRIS_LANDMARK, POSE_LANDMARK)

_cache: dict[tuple[str, str], TFLiteGraph] = {}
_lock = threading.Lock()


def model_path(name: str) -> Path:
    if name not in NAMES:
        raise ValueError(f"unknown MediaPipe model {name!r}; expected one of {', '.join(NAMES)}")
    return MODEL_DIR / f"{name}.safetensors"


def installed(name: str) -> bool:
    """Whether the named model's main file is there (every model ships with the pack; the pose model
    as a main file and a part, which :func:`get_model` reads together)."""
    return model_path(name).is_file()


@torch.no_grad()
def get_model(name: str, device: torch.device | str = "cpu") -> TFLiteGraph:
    """The named model on ``device`` (float32, eval mode), loaded once per device and kept."""
    key = (name, str(torch.device(device)))
    with _lock:
        g = _cache.get(key)
        if g is None:
            g = load_graph(model_path(name)).to(device)
            _cache[key] = g
        return g
