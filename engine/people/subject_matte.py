"""The people's matte: MediaPipe's selfie segmentation shared out between the faces found
(:func:`person.split_matte`), refined at full resolution along the image's edges and matted around the
heads (a soft alpha on hair); GrabCut from a head-and-shoulders prior (OpenCV) where no face or person
is found. Objects a person holds are part of her person class.

Images ``[H,W,3]`` float 0..1; mattes ``[H,W]`` float 0..1.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..core.colour import to_uint8_rgb
from ..core.guided_filter import guided_refine
from ..core.min_filter import min_filter
from ..core.progress import Progress
from ..faces.detection import Face
from .matting import matte_to_alpha
from .person import Person, person_labels, split_matte
from .person_matte import found_person, person_probability, refine_to_image

WORK_SIDE = 640  # GrabCut (the fallback matte) runs at this long side
MATTING = True  # matte the hair around each head (a soft alpha); off: the guided filter's matte alone
HAIR_CHANCE = 0.05  # hair is looked for only where the segmentation gives the person at least this
SOLID_MATTE = 0.25  # matte value above which a pixel takes the subject's depth
SOLID_GAP = 0.008  # share of the long side: gaps in the solid matte up to this wide are closed
GRABCUT_ITERATIONS = 5


def subject_matte(
    image: torch.Tensor,
    people: list[Person],
    meta: dict[str, Any],
    progress: Progress = Progress(),
    prob: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, list[Person], torch.Tensor]:
    """Subject matte ``[H,W]`` 0..1, the people in it and which of them each pixel belongs to
    (``[H,W]`` uint8 index into that list). The person segmentation where a face was found, split between
    the people (:mod:`people`), else GrabCut from a head-and-shoulders prior around the main face.
    ``progress`` (the image's, of 100 steps) moves through 30..90 of it, Cancel honoured at each step."""
    step = progress.on_step(100)
    H, W, _ = image.shape
    # the segmentation alone is no person detector (it marks cats and coffee cups): only with a face
    if people and prob is None:
        prob = person_probability(image)
    step(40)
    if people and prob is not None and found_person(prob):
        meta["matte"] = "selfie segmentation + guided filter"
        split = split_matte(prob, people, H, W)
        if split.notes:
            meta["matte_notes"] = split.notes
        matte = refine_to_image(split.prob, image, eps=1e-3, progress=progress.span(40, 75, 100))
        if MATTING and split.people:
            meta["matte"] = "selfie segmentation + guided filter, matted around the heads (soft alpha on hair)"
            meta["matting"] = f"closed-form matting on a trimap around {len(split.people)} head(s)"
            chance = F.interpolate(split.prob[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]
            heads = [p.face_box for p in split.people]
            matte = matte_to_alpha(image, matte, heads, chance > HAIR_CHANCE, progress)
        step(85)
        return matte, split.people, person_labels(split.people, H, W, image.device)
    import cv2

    scale = min(1.0, WORK_SIDE / max(H, W))
    h, w = max(8, round(H * scale)), max(8, round(W * scale))
    rgb = to_uint8_rgb(image)
    if scale < 1:
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    haar = None
    if people:
        x0, y0, x1, y1 = people[0].face.detection.box
        haar = Face((int(x0 * scale), int(y0 * scale), max(1, int((x1 - x0) * scale)), max(1, int((y1 - y0) * scale))))
    meta["matte"] = "GrabCut (no face and person found by the models)"
    small = _grabcut_matte(rgb, haar, progress.span(40, 75, 100))
    matte = torch.from_numpy(small).to(image.device, torch.float32)
    matte = F.interpolate(matte[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]
    matte = guided_refine(matte[None], image[None], eps=1e-4, progress=progress.span(75, 90, 100))[0].clamp(0, 1)
    for p in people:
        p.in_matte = "GrabCut matte around person 1" if p is people[0] else "GrabCut matte (around person 1 only)"
    return matte, people, person_labels(people, H, W, image.device)


def solid_part(matte: torch.Tensor, heads: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``[H,W]`` bool: where the matte ``[H,W]`` is solid enough (above :data:`SOLID_MATTE`) to take the
    people's depth, closed over gaps up to :data:`SOLID_GAP` of the long side: the guided filter leaves
    one- or two-pixel slivers of background inside a sharp bright edge (a metal ring on a suit), which
    would stay sharp as background when the people are thrown out of focus. Not around the heads
    (``heads [H,W]`` bool, where the hair is matted): a light just beside the hair would join her, even
    through a one-pixel closing."""
    solid = matte > SOLID_MATTE
    r = max(1, round(SOLID_GAP * max(matte.shape) / 2))

    grown = -min_filter(-solid.to(torch.float32), r)  # over (2r+1)² squares, truncated at the borders
    closed = min_filter(grown, r) > 0.5
    return closed if heads is None else torch.where(heads, solid, closed)


def _grabcut_matte(
    rgb: np.ndarray,
    face: Face | None,
    progress: Progress = Progress(),
) -> np.ndarray:
    """Binary subject matte (float 0/1) at the working resolution.

    GrabCut runs one iteration per call (the colour models carry over, so the result is that of one
    call with all iterations); ``progress`` counts them (Cancel honoured after each). An iteration
    can take seconds on a slow CPU, so when ``progress`` can cancel each runs on a worker thread (OpenCV
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
        mode = cv2.GC_INIT_WITH_MASK if i == 0 else cv2.GC_EVAL
        cv2.grabCut(bgr, mask, None, bgd, fgd, 1, mode)  # type: ignore[call-overload]  # no rect with a mask

    for i in range(GRABCUT_ITERATIONS):
        _interruptible(partial(iteration, i), progress)
        progress.check()
        progress.advance(i + 1, GRABCUT_ITERATIONS)
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


def _interruptible(fn: Callable[[], None], progress: Progress, poll_s: float = 0.1) -> None:
    """Run ``fn`` (a call that releases the GIL) on a worker thread, calling ``progress.check()`` every
    ``poll_s`` while it runs; a cancel raises here at once and the worker's result is dropped."""
    global _worker
    if not progress.cancellable:
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
            progress.check()
