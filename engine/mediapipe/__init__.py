"""MediaPipe's small face and person models run in torch: a TFLite-graph executor and the shipped
converted weights (selfie segmentation, BlazeFace detector, face mesh, iris landmarks, BlazePose landmarks)."""

from .graph import GraphFileError, TFLiteGraph, load_graph
from .models import (
    FACE_DETECTION,
    FACE_LANDMARK,
    IRIS_LANDMARK,
    NAMES,
    POSE_LANDMARK,
    SELFIE_SEGMENTATION,
    get_model,
    installed,
    model_path,
)

__all__ = [
    "GraphFileError",
    "TFLiteGraph",
    "load_graph",
    "FACE_DETECTION",
    "FACE_LANDMARK",
    "IRIS_LANDMARK",
    "NAMES",
    "POSE_LANDMARK",
    "SELFIE_SEGMENTATION",
    "get_model",
    "installed",
    "model_path",
]
