"""Finding the people in a photo by their faces: every face BlazeFace finds on the frame and on tiles of
it (small faces, where the person segmentation shows someone the faces found so far do not explain),
OpenCV's Haar cascade when BlazeFace finds none, each kept when the face mesh model accepts it.

Images ``[H,W,3]`` float 0..1; coordinates in image pixels.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..core.colour import to_uint8_rgb
from ..core.progress import Progress
from ..faces.detection import find_faces
from ..faces.landmarks import (
    Detection,
    FaceLandmarks,
    detect_faces,
    detect_faces_in_tiles,
    face_landmarks,
    merge_detections,
    same_face,
)
from .person import people_from_faces, unexplained
from .person_matte import person_probability

HAAR_CANDIDATES = 3  # Haar faces offered to the mesh model when BlazeFace finds none
OTHER_FACE_PRESENCE = 0.9  # a face besides the most confident one needs this mesh presence
OTHER_FACE_SCORE = 0.75  # and this BlazeFace score


def find_faces_all(
    image: torch.Tensor, progress: Progress = Progress(), prob: Optional[torch.Tensor] = None
) -> list[FaceLandmarks]:
    """Mesh and irises of every face in ``image [H,W,3]`` 0..1, each kept when the mesh model accepts it
    (:func:`_confident`): BlazeFace on the whole frame, then on the tiles of the frame (small faces,
    :func:`detect_faces_in_tiles`) where the person segmentation ``prob`` (``[gh,gw]``, computed when not
    given) shows someone the faces found so far do not explain; OpenCV's Haar cascade as a second
    detector when BlazeFace gives none. ``progress`` (the image's, of 100 steps) moves
    through 2..30 of it, Cancel honoured at each step."""
    step = progress.on_step(100)
    H, W, _ = image.shape
    whole = merge_detections(detect_faces(image))
    found = _meshes(image, whole, [])
    step(12)
    if prob is None:
        prob = person_probability(image)
    tiles = detect_faces_in_tiles(image, unexplained(prob, found, H, W))
    new = [d for d in merge_detections(tiles) if not any(same_face(d.box, w.box) for w in whole)]
    step(18)
    found = _meshes(image, new, found)
    step(24)
    if found:
        return _confident(found)
    import cv2

    s = min(1.0, 1024 / max(H, W))
    rgb = to_uint8_rgb(image)
    if s < 1:
        rgb = cv2.resize(rgb, (max(1, round(W * s)), max(1, round(H * s))), interpolation=cv2.INTER_AREA)
    # Haar finds false faces too (largest first): faces with two eyes first, the mesh model decides
    faces = sorted(find_faces(rgb), key=lambda f: len(f.eyes) != 2)
    for face in faces[:HAAR_CANDIDATES]:
        x, y, w, h = (v / s for v in face.box)
        # the Haar box sits lower and is wider than BlazeFace's; the mesh's crop is 1.5× it either way
        kp = torch.tensor([[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h]] + [[x + w / 2, y + h / 2]] * 4)
        lm = face_landmarks(image, Detection((x, y, x + w, y + h), kp, 0.0))
        if lm is not None and not any(_same_person(lm, f) for f in found):
            found.append(lm)
    return _confident(found, haar=True)


def _meshes(image: torch.Tensor, dets: list[Detection], found: list[FaceLandmarks]) -> list[FaceLandmarks]:
    """``found`` and the meshes of ``dets`` the mesh model accepts (one per face): the detector's sure
    faces; the less sure ones only while no face is found (they are mostly not faces)."""
    found = list(found)
    sure = [d for d in dets if d.score >= OTHER_FACE_SCORE]
    for group in (sure, [d for d in dets if d.score < OTHER_FACE_SCORE]):
        if found and group is not sure:
            break
        for d in group:
            lm = face_landmarks(image, d)
            if lm is not None and not any(_same_person(lm, f) for f in found):
                found.append(lm)
    return found


def _confident(faces: list[FaceLandmarks], haar: bool = False) -> list[FaceLandmarks]:
    """The faces kept: the most confident one (the mesh's presence, then the detector's score) as the
    mesh model accepts it, the others only when both models are sure (round badges, prints and patterns
    can pass for a face at the mesh's threshold); in the order given."""
    if not faces:
        return faces
    best = max(faces, key=lambda f: (f.mesh_score, f.detection.score))
    return [
        f
        for f in faces
        if f is best or (f.mesh_score >= OTHER_FACE_PRESENCE and (haar or f.detection.score >= OTHER_FACE_SCORE))
    ]


def find_face(image: torch.Tensor, progress: Progress = Progress()) -> Optional[FaceLandmarks]:
    """The main face (the nearest by its eyes' size, :func:`find_faces_all`) in ``image [H,W,3]`` 0..1,
    None when no detector finds one. ``progress`` as in :func:`find_faces_all`."""
    # distance order does not depend on the lens: any focal length ranks the faces alike
    people = people_from_faces(find_faces_all(image, progress), 50.0, 1.0)
    return people[0].face if people else None


def _same_person(a: FaceLandmarks, b: FaceLandmarks) -> bool:
    """Two meshes of one face: both eye centres within half the eyes' spacing."""
    gap = float((a.eye_centres - b.eye_centres).norm(dim=-1).max())
    return gap < 0.5 * max(min(a.interpupillary_px, b.interpupillary_px), 1.0)
