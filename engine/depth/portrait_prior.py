"""Portrait depth without any downloaded weights: a face, a subject matte and a depth prior.

Named honestly: this is an *assumed* depth, not a measurement. The face (OpenCV's bundled Haar
cascades) gives the subject distance for the given focal length; GrabCut, seeded from the face
and a head-and-shoulders prior, gives the subject matte, refined along image edges by a guided
filter; the head gets a gentle ellipsoidal relief (nose nearer, ears farther), the body sits a
little behind the face, the background at ``background_distance_m``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..colour import to_uint8_rgb
from ..faces.detection import Face, distance_from_face, eye_positions_normalised, find_faces
from .guided_filter import guided_refine

NAME = "portrait prior (no weights)"
WORK_SIDE = 640  # GrabCut runs at this long side
HEAD_RELIEF_M = 0.10  # ears are this much farther than the nose
BODY_BEHIND_M = 0.12  # shoulders/torso behind the eye plane
DEFAULT_SUBJECT_M = 1.5  # when no face is found and no distance is given
SOLID_MATTE = 0.1  # matte value above which a pixel takes the subject's depth
GRABCUT_ITERATIONS = 5
PROGRESS_STEPS = 100  # progress within one image is reported out of this many steps


def portrait_prior(
    image: torch.Tensor,
    pixels_per_mm: float,
    focal_length_mm: float,
    subject_distance_m: float,
    background_distance_m: float,
    check_interrupt: Optional[Callable[[], None]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Depth ``[H,W]`` metres, subject matte ``[H,W]`` 0..1 and metadata for one ``image [H,W,3]`` 0..1.

    ``check_interrupt()`` is called between steps of well under a second each (it raises to cancel);
    ``progress(done, total)`` reports how far into this image the work is.
    """
    import cv2

    def step(done: int, total: int = PROGRESS_STEPS) -> None:
        if check_interrupt is not None:
            check_interrupt()
        if progress is not None:
            progress(done, total)

    H, W, _ = image.shape
    scale = min(1.0, WORK_SIDE / max(H, W))
    h, w = max(8, round(H * scale)), max(8, round(W * scale))
    rgb_full = to_uint8_rgb(image)
    rgb = cv2.resize(rgb_full, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else rgb_full
    step(5)
    faces = find_faces(rgb)
    step(10)
    meta: dict[str, Any] = {"model": NAME, "faces_found": len(faces)}
    face = faces[0] if faces else None
    if face is not None:
        est, how = distance_from_face(face, focal_length_mm, pixels_per_mm * scale)
        meta["face_box_rel"] = [face.box[0] / w, face.box[1] / h, face.box[2] / w, face.box[3] / h]
        if face.eyes:
            meta["eye_xy"] = eye_positions_normalised(face, h, w)
        meta["subject_distance_estimate_m"] = round(est, 3)
        meta["subject_distance_from"] = how
    else:
        est = DEFAULT_SUBJECT_M
        meta["subject_distance_from"] = f"no face found: assumed {DEFAULT_SUBJECT_M} m"
    subject_m = subject_distance_m if subject_distance_m > 0 else est
    if subject_distance_m > 0:
        meta["subject_distance_from"] = "given"
    if background_distance_m <= subject_m:
        background_distance_m = subject_m * 2.0
        meta["background_adjusted"] = "background_distance_m was not behind the subject; doubled the subject distance"
    meta.update(subject_distance_m=round(subject_m, 3), background_distance_m=background_distance_m)

    matte_small = _grabcut_matte(rgb, face, lambda i, n: step(10 + 50 * i // n), check_interrupt)
    matte = torch.from_numpy(matte_small).to(image.device, torch.float32)
    matte = F.interpolate(matte[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]
    matte = guided_refine(
        matte[None], image[None, ..., :3].to(torch.float32), eps=1e-4, on_band=lambda y, n: step(60 + 35 * y // n)
    )[0].clamp(0, 1)

    depth_subject = torch.full((H, W), subject_m + BODY_BEHIND_M, device=image.device)
    if face is not None:
        fx, fy, fw, fh = (v / scale for v in face.box)
        cx, cy = fx + fw / 2, fy + fh * 0.45
        yy = torch.arange(H, device=image.device, dtype=torch.float32).view(H, 1)
        xx = torch.arange(W, device=image.device, dtype=torch.float32).view(1, W)
        e = ((xx - cx) / (0.75 * fw)) ** 2 + ((yy - cy) / (0.95 * fh)) ** 2
        # eye plane at the subject distance; the nose a little nearer, the rim of the head (ears, hair)
        # farther, then easing into the body plane: continuous, so focus falls off smoothly
        inside = HEAD_RELIEF_M * (1 - torch.sqrt((1 - e).clamp_min(0)))
        outside = (BODY_BEHIND_M + 0.03 - HEAD_RELIEF_M) * (torch.sqrt(e) - 1).clamp(0, 1)
        depth_subject = subject_m - 0.03 + inside + outside
    # depth takes a hard edge inside the matte's soft one: mixed hair/background pixels stay with the
    # sharp subject instead of smearing hair colour into the blurred background (a halo)
    step(97)
    solid = (matte > SOLID_MATTE).to(matte.dtype)
    disp = solid / depth_subject + (1 - solid) / background_distance_m
    step(PROGRESS_STEPS)
    return 1.0 / disp, matte, meta


def _grabcut_matte(
    rgb: np.ndarray,
    face: Face | None,
    after_iteration: Optional[Callable[[int, int], None]] = None,
    check_interrupt: Optional[Callable[[], None]] = None,
) -> np.ndarray:
    """Binary subject matte (float 0/1) at the working resolution.

    GrabCut runs one iteration per call (the colour models carry over, so the result is that of one
    call with all iterations); ``after_iteration(done, total)`` is called between them. An iteration
    can take seconds on a slow CPU, so with ``check_interrupt`` each runs on a worker thread (OpenCV
    releases the GIL) while this thread checks for a cancel every 0.1 s.
    """
    import cv2

    h, w, _ = rgb.shape
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    border = max(2, int(0.03 * min(h, w)))
    if face is not None:
        x, y, fw, fh = face.box
        # head and shoulders: probably subject
        x0, x1 = max(0, int(x - 1.3 * fw)), min(w, int(x + 2.3 * fw))
        y0 = max(0, int(y - 0.6 * fh))
        mask[y0:, x0:x1] = cv2.GC_PR_FGD
        # face core and upper torso: subject for sure
        mask[int(y + 0.15 * fh) : int(y + 0.9 * fh), int(x + 0.15 * fw) : int(x + 0.85 * fw)] = cv2.GC_FGD
        mask[min(h - 1, int(y + 1.4 * fh)) : min(h, int(y + 2.2 * fh)), int(x + 0.1 * fw) : int(x + 0.9 * fw)] = (
            cv2.GC_FGD
        )
    else:
        # no face: a centred head-and-shoulders silhouette prior
        yy, xx = np.mgrid[0:h, 0:w]
        prior = ((xx - w / 2) / (0.3 * w)) ** 2 + ((yy - 0.75 * h) / (0.7 * h)) ** 2 < 1
        mask[prior] = cv2.GC_PR_FGD
    mask[:border, :] = cv2.GC_BGD
    mask[:, :border] = cv2.GC_BGD
    mask[:, w - border :] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(rgb[..., ::-1])

    def iteration(i: int) -> None:
        if i == 0:
            cv2.setRNGSeed(0)  # OpenCV's RNG is per thread: seed the one that initialises the colour models
        cv2.grabCut(bgr, mask, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK if i == 0 else cv2.GC_EVAL)

    for i in range(GRABCUT_ITERATIONS):
        _interruptible(lambda i=i: iteration(i), check_interrupt)
        if after_iteration is not None:
            after_iteration(i + 1, GRABCUT_ITERATIONS)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # keep the component that holds the face (or the largest)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n > 2:
        if face is not None:
            cx, cy = face.box[0] + face.box[2] // 2, face.box[1] + face.box[3] // 2
            keep = labels[min(h - 1, cy), min(w - 1, cx)]
        else:
            keep = 0
        if keep == 0:
            keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        fg = (labels == keep).astype(np.uint8)
    # fill holes: background pieces enclosed by the subject (badges, folds) belong to it
    n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - fg, connectivity=4)
    for i in range(1, n):
        x, y, bw, bh, _area = stats[i]
        if x > 0 and y > 0 and x + bw < w and y + bh < h:
            fg[labels == i] = 1
    return fg.astype(np.float32)


_worker: Optional[ThreadPoolExecutor] = None
_worker_lock = threading.Lock()


def _interruptible(fn: Callable[[], None], check_interrupt: Optional[Callable[[], None]], poll_s: float = 0.1) -> None:
    """Run ``fn`` (a call that releases the GIL) on a worker thread, calling ``check_interrupt`` every
    ``poll_s`` while it runs; a cancel raises here at once and the worker's result is dropped."""
    global _worker
    if check_interrupt is None:
        fn()
        return
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=2, thread_name_prefix="portraitos-grabcut")
    job = _worker.submit(fn)
    while True:
        try:
            job.result(timeout=poll_s)
            return
        except FutureTimeout:
            check_interrupt()
