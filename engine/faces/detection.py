"""Face and eye finding with OpenCV's bundled Haar cascades (small models shipped in the
``opencv-python-headless`` wheel; nothing is downloaded), and the distance a face implies. OpenCV 5
has no Haar cascades: there the pack's own MediaPipe BlazeFace detector (``faces.landmarks``) finds
the faces and its eye keypoints stand for the eyes.

Coordinates are pixels of the image passed in, ``(x, y, w, h)`` boxes, ``(x, y)`` points.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from typing import Optional

import numpy as np

from .distance import distance_from_eyes, distance_from_face_width


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    eyes: tuple[tuple[float, float], ...] = ()

    @property
    def ipd_px(self) -> Optional[float]:
        if len(self.eyes) != 2:
            return None
        (x1, y1), (x2, y2) = self.eyes
        return math.hypot(x2 - x1, y2 - y1)


def haar_cascades_available() -> bool:
    """Whether the installed OpenCV ships Haar cascades (4.x does; 5.x moved them out)."""
    import cv2

    data = getattr(cv2, "data", None)  # OpenCV's Haar files; OpenCV 5 wheels ship none
    return hasattr(cv2, "CascadeClassifier") and data is not None and hasattr(data, "haarcascades")


@cache
def _cascade(name: str):
    import cv2

    path = os.path.join(cv2.data.haarcascades, name)  # type: ignore[attr-defined]  # checked by the caller
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise RuntimeError(f"OpenCV cascade {path} could not be loaded; reinstall opencv-python-headless<5")
    return c


def find_faces(rgb: np.ndarray) -> list[Face]:
    """Frontal faces in an ``[H,W,3]`` uint8 RGB image, largest first, with eyes where found."""
    if not haar_cascades_available():
        return _find_faces_blazeface(rgb)
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    grey = cv2.equalizeHist(grey)
    h, w = grey.shape
    min_side = max(24, min(h, w) // 20)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    faces = []
    for x, y, bw, bh in sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3]):
        upper = grey[y : y + bh * 6 // 10, x : x + bw]
        found = _cascade("haarcascade_eye.xml").detectMultiScale(upper, 1.1, 5, minSize=(max(8, bw // 8),) * 2)
        eyes = sorted(((x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in found), key=lambda p: p[0])
        if len(eyes) > 2:  # keep the pair most level and plausibly spaced
            best = min(
                ((a, b) for i, a in enumerate(eyes) for b in eyes[i + 1 :]),
                key=lambda ab: abs(ab[0][1] - ab[1][1]) + abs(abs(ab[0][0] - ab[1][0]) - 0.42 * bw),
            )
            eyes = list(best)
        if len(eyes) == 2 and not (0.25 * bw < abs(eyes[1][0] - eyes[0][0]) < 0.7 * bw):
            eyes = []
        faces.append(Face((x, y, bw, bh), tuple(eyes) if len(eyes) == 2 else ()))
    return faces


def _find_faces_blazeface(rgb: np.ndarray) -> list[Face]:
    """:func:`find_faces` by MediaPipe's BlazeFace (short range): boxes and both eye keypoints."""
    import torch

    from .landmarks import detect_faces

    image = torch.from_numpy(np.ascontiguousarray(rgb[..., :3])).float() / 255.0
    h, w = rgb.shape[:2]
    faces = []
    for det in detect_faces(image):
        x0, y0, x1, y1 = (max(0.0, v) for v in det.box)
        x0, x1, y0, y1 = min(x0, w), min(x1, w), min(y0, h), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        eyes = tuple(sorted((float(x), float(y)) for x, y in det.keypoints[:2].tolist()))
        faces.append(Face((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), eyes))
    return sorted(faces, key=lambda f: -f.box[2] * f.box[3])


def find_faces_scaled(rgb: np.ndarray, max_side: int = 1024) -> list[Face]:
    """:func:`find_faces` on a copy no larger than ``max_side``, in the full image's coordinates."""
    import cv2

    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s == 1.0:
        return find_faces(rgb)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = []
    for f in find_faces(small):
        x, y, bw, bh = (int(round(v / s)) for v in f.box)
        out.append(Face((x, y, bw, bh), tuple((ex / s, ey / s) for ex, ey in f.eyes)))
    return out


def distance_from_face(face: Face, focal_length_mm: float, pixels_per_mm: float) -> tuple[float, str]:
    """Camera-to-face distance in metres from the face's size in the frame, and how it was found: the
    interpupillary distance when both eyes were found, else the face box width (``faces.distance``)."""
    found = distance_from_eyes(None, face.ipd_px, focal_length_mm, pixels_per_mm)
    return found if found is not None else distance_from_face_width(float(face.box[2]), focal_length_mm, pixels_per_mm)


def eye_positions_normalised(face: Face, height: int, width: int) -> list[list[float]]:
    """The face's eye centres as ``[[x, y], …]`` in 0..1 of the image (0 = first pixel, 1 = last), the
    ``eye_xy`` convention of DEPTH metadata."""
    return [[float(x) / max(width - 1, 1), float(y) / max(height - 1, 1)] for x, y in face.eyes]
