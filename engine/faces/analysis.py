"""Face detection, alignment and ArcFace embeddings through InsightFace's own loading and inference
code, from a model pack the user already has (``models/insightface/models/<pack>/*.onnx``).

Imports InsightFace lazily: loading a stored identity never needs it. Never downloads: a missing
pack is an error that says which files go where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .records import photo_sha256, pose_from_kps


class FaceError(ValueError):
    """A face pack or a photo that face analysis cannot use; the message says what to do."""


MIN_FACE_PX = 64  # smaller faces carry too little identity
BLUR_VARIANCE_MIN = 40.0  # Laplacian variance of the 112 px aligned crop below this: too blurred
EXTREME_YAW_DEG = 45.0
GOOD_SELFIE = (
    "a sharp, evenly lit photo of one person facing the camera, the face at least a fifth of the "
    "frame, no sunglasses, hands or hair over the eyes"
)
PROVIDERS = {
    "CPU": ["CPUExecutionProvider"],
    "CUDA": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "ROCm": ["ROCMExecutionProvider", "CPUExecutionProvider"],
    "CoreML": ["CoreMLExecutionProvider", "CPUExecutionProvider"],
    "DirectML": ["DmlExecutionProvider", "CPUExecutionProvider"],
}


@dataclass
class FacePack:
    name: str
    app: Any  # insightface.app.FaceAnalysis


def pack_problem(root: Path, pack: str) -> str | None:
    """Why ``root/models/<pack>`` cannot be used, or None. Checks files before InsightFace sees them
    (InsightFace would otherwise try to download)."""
    folder = Path(root) / "models" / pack
    hint = (
        f"put the {pack} model pack's .onnx files (a detector such as scrfd_10g_bnkps.onnx / det_10g.onnx "
        f"and a recognition model such as glintr100.onnx / w600k_r50.onnx) directly into {folder}"
    )
    if not folder.is_dir():
        nested = list((Path(root) / "models").glob(f"*/{pack}")) + list((Path(root)).glob(f"{pack}"))
        extra = f" (found {nested[0]}: move its files up)" if nested else ""
        return f"InsightFace model pack {pack!r} not found{extra}: {hint}"
    onnx_files = sorted(folder.glob("*.onnx"))
    if not onnx_files:
        sub = [p for p in folder.iterdir() if p.is_dir() and list(p.glob("*.onnx"))]
        extra = f" (they are in the nested folder {sub[0].name}/: move them up one level)" if sub else ""
        return f"no .onnx files in {folder}{extra}: {hint}"
    return None


def load_pack(root: Path, pack: str, provider: str = "CPU", det_size: int = 640) -> FacePack:
    problem = pack_problem(root, pack)
    if problem:
        raise FaceError(problem)
    try:
        from insightface.app import FaceAnalysis
    except ImportError:
        raise FaceError(
            "creating identities needs InsightFace: pip install insightface onnxruntime "
            "(loading stored identities does not)"
        ) from None
    providers = PROVIDERS.get(provider, PROVIDERS["CPU"])
    try:
        app = FaceAnalysis(name=pack, root=str(root), providers=providers)
        app.prepare(ctx_id=0 if provider != "CPU" else -1, det_size=(det_size, det_size))
    except AssertionError:
        raise FaceError(
            f"model pack {pack!r} has no face detector: it needs a detection .onnx (such as "
            "det_10g.onnx or scrfd_10g_bnkps.onnx) next to the recognition model"
        ) from None
    except Exception as e:
        raise FaceError(f"model pack {pack!r} could not be loaded ({type(e).__name__}: {e})") from None
    if "recognition" not in app.models:
        raise FaceError(f"model pack {pack!r} has no recognition (ArcFace) model with a 112×112 input")
    return FacePack(pack, app)


MIN_PHOTO_SIDE = 32  # px: below this no detector finds a face
MAX_PHOTO_ASPECT = 20  # long side ÷ short side: beyond it the detector's resize leaves nothing to search


def photo_shape_problem(height: int, width: int) -> str | None:
    """Why a photo of this size cannot hold a findable face, or None (InsightFace's detector would fail
    with an OpenCV resize error on a long thin strip)."""
    short, long = min(height, width), max(height, width)
    if short < MIN_PHOTO_SIDE:
        return f"the photo is {width}×{height} px: too small to find a face in (at least {MIN_PHOTO_SIDE} px a side)"
    if long > MAX_PHOTO_ASPECT * short:
        return (
            f"the photo is {width}×{height} px: too long and thin to find a face in (the long side at most "
            f"{MAX_PHOTO_ASPECT}× the short one); crop it around the face"
        )
    return None


DET_SIZES = (640, 576, 512, 448, 384, 320, 256, 192)  # px squares tried in turn until a face is found


def _input_is_dynamic(det_model: Any) -> bool:
    """Whether the detector's ONNX input takes any size (the published SCRFD exports do); a detector with a
    fixed input size ignores ``det_size`` and is run once."""
    session = getattr(det_model, "session", None)
    if session is None:
        return False
    shape = session.get_inputs()[0].shape
    return len(shape) == 4 and not isinstance(shape[2], int)


def find_faces_insightface(
    pack: FacePack, rgb: np.ndarray, det_sizes: tuple[int, ...] = DET_SIZES, check_interrupt: Any = None
) -> list[Any]:
    """InsightFace's faces in a ``[H,W,3]`` uint8 RGB photo, detected at the first of ``det_sizes`` (px
    squares, 640 first) that finds any: a face that fills the frame (a close-up selfie) is often missed at
    640 and found at a smaller size, as in the reference packs. FaceError for a photo no detector can
    search (see :func:`photo_shape_problem`). The pack's own detection size is restored afterwards.

    Every face found carries ``det_size`` (the size that found it)."""
    problem = photo_shape_problem(*rgb.shape[:2])
    if problem:
        raise FaceError(problem)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    det = getattr(pack.app, "det_model", None)
    if det is None or not _input_is_dynamic(det):
        faces = pack.app.get(bgr)
        for f in faces:
            f["det_size"] = None if det is None else (det.input_size or (None,))[0]
        return faces
    own = det.input_size
    # InsightFace 2.x detects at each of ``input_sizes`` when it has them (before ``input_size``)
    own_sizes = getattr(det, "input_sizes", None)
    try:
        for size in det_sizes:
            if check_interrupt is not None:
                check_interrupt()
            det.input_size = (int(size), int(size))
            if own_sizes is not None:
                det.input_sizes = [(int(size), int(size))]
            faces = pack.app.get(bgr)
            if faces:
                for f in faces:
                    f["det_size"] = int(size)
                return faces
        return []
    finally:
        det.input_size = own
        if own_sizes is not None:
            det.input_sizes = own_sizes


def largest_first(faces: list[Any]) -> list[Any]:
    """InsightFace's faces ordered by box area, largest first (stable for equal areas)."""
    return sorted(faces, key=lambda f: -float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))


def analyse(pack: FacePack, rgb: np.ndarray, face_index: int = -1) -> tuple[dict[str, Any], list[str], list[Any]]:
    """Detect, align and embed the chosen face of one ``[H,W,3]`` uint8 RGB photo.

    ``face_index`` −1 takes the largest face. Returns the face record (see identity.build_identity),
    warnings for the user, and all detected faces (for the preview).
    """
    from insightface.utils import face_align

    faces = find_faces_insightface(pack, rgb)
    warnings: list[str] = []
    if not faces:
        sizes = "–".join(str(s) for s in (DET_SIZES[0], DET_SIZES[-1]))
        raise FaceError(
            f"no face found in the photo (detection sizes {sizes} px tried). A good selfie is {GOOD_SELFIE}."
        )
    faces = largest_first(faces)
    if face_index >= len(faces):
        raise FaceError(f"face_index {face_index} asked for, but only {len(faces)} face(s) found")
    chosen = faces[face_index if face_index >= 0 else 0]
    if len(faces) > 1:
        x0, y0, x1, y1 = (int(v) for v in chosen.bbox)
        warnings.append(
            f"{len(faces)} faces found; took #{face_index if face_index >= 0 else 0} (largest first) "
            f"at x {x0}–{x1}, y {y0}–{y1}; set face_index to choose another"
        )
    width = float(chosen.bbox[2] - chosen.bbox[0])
    if width < MIN_FACE_PX:
        raise FaceError(
            f"the face is only {width:.0f} px wide (at least {MIN_FACE_PX} needed): "
            f"use a closer or higher-resolution photo. A good selfie is {GOOD_SELFIE}."
        )
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    crop_112 = face_align.norm_crop(bgr, landmark=chosen.kps, image_size=112)[..., ::-1].copy()
    crop_224 = face_align.norm_crop(bgr, landmark=chosen.kps, image_size=224)[..., ::-1].copy()
    sharpness = _laplacian_variance(crop_112)
    if sharpness < BLUR_VARIANCE_MIN:
        warnings.append(
            f"the face looks blurred (sharpness {sharpness:.0f} < {BLUR_VARIANCE_MIN:.0f}); "
            "a sharper photo gives a more faithful identity"
        )
    pose = getattr(chosen, "pose", None)
    record = {
        "embedding": np.asarray(chosen.embedding, np.float32),
        "kps": np.asarray(chosen.kps, np.float32),
        "bbox": np.asarray(chosen.bbox, np.float32)[:4],
        "det_score": float(chosen.det_score),
        "crop_112": crop_112,
        "crop_224": crop_224,
        "pose": None if pose is None else np.asarray(pose, np.float32)[:3],
        "landmark_2d_106": getattr(chosen, "landmark_2d_106", None),
        "age": getattr(chosen, "age", None),
        "gender": getattr(chosen, "gender", None),
        "sha256": photo_sha256(rgb),
        "sharpness": sharpness,
    }
    yaw = (
        float(record["pose"][0])
        if record["pose"] is not None
        else float(pose_from_kps(torch.from_numpy(record["kps"]))[0])
    )
    if abs(yaw) > EXTREME_YAW_DEG:
        warnings.append(f"the head is turned {yaw:.0f}° (over {EXTREME_YAW_DEG:.0f}°); a frontal photo works best")
    return record, warnings, faces


def _laplacian_variance(rgb: np.ndarray) -> float:
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def draw_preview(rgb: np.ndarray, faces: list[Any], chosen_index: int) -> np.ndarray:
    """The photo with every face's box (chosen in green, others grey) and keypoints."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    t = max(1, round(max(rgb.shape[:2]) / 400))
    for i, f in enumerate(faces):
        colour = (0, 220, 0) if i == chosen_index else (160, 160, 160)
        x0, y0, x1, y1 = (int(round(v)) for v in f.bbox[:4])
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, t)
        if f.kps is not None:
            for x, y in np.asarray(f.kps):
                cv2.circle(out, (int(round(x)), int(round(y))), 2 * t, (255, 60, 60), -1)
    return out
