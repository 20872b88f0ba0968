"""Faces: quick detection and eye positions for depth and focus (OpenCV), and InsightFace analysis
(detection, alignment, ArcFace embedding) for identities.

Photos are uint8 RGB numpy arrays ``[H,W,3]``; positions are pixels.
"""

from .analysis import PROVIDERS, FaceError, FacePack, analyse, draw_preview, load_pack, pack_problem
from .detection import Face, distance_from_face, eye_positions_normalised, find_faces, find_faces_scaled

__all__ = [
    "PROVIDERS",
    "FaceError",
    "FacePack",
    "analyse",
    "draw_preview",
    "load_pack",
    "pack_problem",
    "Face",
    "distance_from_face",
    "eye_positions_normalised",
    "find_faces",
    "find_faces_scaled",
]
