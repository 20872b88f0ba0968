"""Portrait depth without any downloaded weights: the shipped MediaPipe models give a person matte,
the face's surface and the irises; together with the focal length they give an assumed metric depth.

Named honestly: this is an *assumed* depth, not a measurement.
- Subject matte: MediaPipe's selfie segmentation, refined at full resolution along the image's edges
  (``person_matte``). Objects the person holds are part of its person class and take the body's
  depth; objects behind the person stay in the background. Without a person found, GrabCut seeded
  from a head-and-shoulders prior (OpenCV) gives the matte.
- People: every face BlazeFace finds on the frame and on tiles of it (Haar when it finds none) that
  the mesh model accepts is a person. Each has her own distance and her own part of the matte
  (``people``: pieces of the matte shared by the face they lie under; a face half in the matte is
  filled in, one hardly in it cut out). The main person is the nearest; the single-subject keys of
  the metadata are hers, ``people`` lists everyone (distance, how it was measured, eyes).
- Distance (the eyes), per person: from the iris diameter (11.7 mm), else the interpupillary
  distance, else the face box, else ``DEFAULT_SUBJECT_M``; ``subject_distance_from`` says which.
- Relief, per person: the face mesh's depth over the face (nose nearer, ears farther), easing into
  her body's relief from her BlazePose pose (shoulders, arms, hands and what they hold as the pose's
  world landmarks place them, :mod:`body_relief`), or into a plane a little behind the eyes when no
  pose is found; ``relief`` (per person in ``people``) says what was assumed where; the background
  at ``background_distance_m`` (moved behind the farthest person when she is not in front of it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any, NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..core.colour import to_uint8_rgb
from ..core.guided_filter import guided_refine
from ..core.min_filter import min_filter
from ..faces.detection import Face, find_faces
from ..faces.landmarks import (
    Detection,
    FaceLandmarks,
    detect_faces,
    detect_faces_in_tiles,
    face_landmarks,
    merge_detections,
    same_face,
)
from ..people.body_labels import labels_from_bodies
from ..people.body_pose import body_pose, missing_model
from ..people.body_relief import body_relief
from ..people.head_relief import head_relief_window
from ..people.matting import head_mask, matte_to_alpha
from ..people.person import (
    Person,
    eye_positions,
    main_person,
    people_from_faces,
    people_meta,
    person_labels,
    split_matte,
    unexplained,
)
from ..people.person_matte import found_person, person_probability, refine_to_image
from .layout import CONTACT_MARGIN, Standing, background_layout

NAME = "portrait prior (no weights)"
WORK_SIDE = 640  # GrabCut (the fallback matte) runs at this long side
BODY_BEHIND_M = 0.10  # shoulders/torso/hair behind the eye plane
DEFAULT_SUBJECT_M = 1.5  # when no face is found and no distance is given
MATTING = True  # matte the hair around each head (a soft alpha); off: the guided filter's matte alone
HAIR_CHANCE = 0.05  # hair is looked for only where the segmentation gives the person at least this
SOLID_MATTE = 0.25  # matte value above which a pixel takes the subject's depth
SOLID_GAP = 0.008  # share of the long side: gaps in the solid matte up to this wide are closed
GRABCUT_ITERATIONS = 5
HAAR_CANDIDATES = 3  # Haar faces offered to the mesh model when BlazeFace finds none
PROGRESS_STEPS = 100  # progress within one image is reported out of this many steps
OTHER_FACE_PRESENCE = 0.9  # a face besides the most confident one needs this mesh presence
OTHER_FACE_SCORE = 0.75  # and this BlazeFace score
FARTHEST_MARGIN = 1.25  # the background at least this much farther than the farthest person


def portrait_prior(
    image: torch.Tensor,
    pixels_per_mm: float,
    focal_length_mm: float,
    subject_distance_m: float,
    background_distance_m: float,
    check_interrupt: Optional[Callable[[], None]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Prior:
    """Depth ``[H,W]`` metres, subject matte ``[H,W]`` 0..1, metadata and the people's layer alpha
    ``[H,W]`` for one ``image [H,W,3]`` 0..1 (:class:`Prior`).

    Every face found is a person with her own distance and her own part of the matte; the metadata's
    single-subject keys (``eye_xy``, ``subject_distance_m``, ``subject_distance_from``, ``face_box_rel``,
    …) are the main person's, the nearest; ``people`` lists them all (:func:`people.people_meta`).
    ``check_interrupt()`` is called between steps of well under a second each (it raises to cancel);
    ``progress(done, total)`` reports how far into this image the work is.
    """

    def step(done: int, total: int = PROGRESS_STEPS) -> None:
        if check_interrupt is not None:
            check_interrupt()
        if progress is not None:
            progress(done, total)

    H, W, _ = image.shape
    image = image[..., :3].float()
    step(2)
    prob = person_probability(image)
    people = people_from_faces(find_faces_all(image, step, prob), focal_length_mm, pixels_per_mm)
    main = main_person(people)
    step(30)
    meta: dict[str, Any] = {"model": NAME, "faces_found": len(people)}
    if main is not None:
        face = main.face
        iris = face.iris_diameters_px
        meta["eye_xy"] = eye_positions(face, H, W)
        x0, y0, x1, y1 = face.detection.box
        meta["face_box_rel"] = [x0 / W, y0 / H, (x1 - x0) / W, (y1 - y0) / H]
        if iris is not None:
            meta["iris_diameter_px"] = [round(float(v), 2) for v in iris]
        meta["interpupillary_px"] = round(face.interpupillary_px, 2)
        meta["subject_distance_estimate_m"] = round(main.distance_m, 3)
        meta["subject_distance_from"] = main.distance_from
        subject_m = main.distance_m
    else:
        subject_m = DEFAULT_SUBJECT_M
        meta["subject_distance_from"] = f"no face found: assumed {DEFAULT_SUBJECT_M} m"
    if subject_distance_m > 0:
        if main is not None:
            # the others keep their distances relative to the main person (the same lens scales them all)
            scale = subject_distance_m / main.distance_m
            for p in people[1:]:
                p.distance_m *= scale
                p.distance_from += f", scaled ×{scale:.3g} with person 1's given distance"
            main.distance_m, main.distance_from = subject_distance_m, "given"
        subject_m = subject_distance_m
        meta["subject_distance_from"] = "given"
    if background_distance_m <= subject_m:
        background_distance_m = subject_m * 2.0
        meta["background_adjusted"] = "background_distance_m was not behind the subject; doubled the subject distance"
    farthest = max((p.distance_m for p in people[1:]), default=0.0)
    if farthest >= background_distance_m:
        background_distance_m = round(farthest * FARTHEST_MARGIN, 3)
        meta["background_adjusted"] = (
            f"background_distance_m was not behind the farthest person ({farthest:.2f} m); "
            f"set to {FARTHEST_MARGIN:g}× her distance"
        )
    meta.update(subject_distance_m=round(subject_m, 3), background_distance_m=background_distance_m)

    matte, kept, labels = subject_matte(image, people, meta, step, check_interrupt, prob)
    step(90)
    heads = head_mask([p.face_box for p in kept or people], H, W, image.device) if "matting" in meta else None
    solid = solid_part(matte, heads)
    if people:
        meta["people_found"] = len(people)
        meta["people"] = people_meta(people, H, W)
        f_px = focal_length_mm * pixels_per_mm
        depth_subject, relief = _people_depth(kept or people[:1], labels, solid, image, f_px, H, W, image.device)
        step(95)
        meta["relief"] = relief[0]
        by_number = {p.number: notes for p, notes in zip(kept or people[:1], relief)}
        for row in meta["people"]:
            if row["person"] in by_number:
                row["relief"] = by_number[row["person"]]
    else:
        depth_subject = torch.full((H, W), subject_m + BODY_BEHIND_M, device=image.device)
    # depth takes a hard edge inside the matte's soft one: mixed hair/background pixels stay with the
    # sharp subject instead of smearing hair colour into the blurred background (a halo)
    hard = solid.to(matte.dtype)
    layout = background_layout(image, solid, people_standing(kept or people, labels, solid), background_distance_m)
    meta["layout"] = {"summary": layout.summary, **layout.meta}
    disp = hard / depth_subject + (1 - hard) / layout.depth
    # the layer LensBokeh lays over the background: soft (matted) around heads, the depth's edge elsewhere
    layer = hard if heads is None else torch.where(heads, matte, hard)
    step(PROGRESS_STEPS)
    return Prior(1.0 / disp, matte, meta, layer)


def people_standing(people: list[Person], labels: torch.Tensor, solid: torch.Tensor) -> list[Standing]:
    """The people for the background's layout: each one's distance and, where her solid outline
    (``labels [H,W]`` index into ``people``, ``solid [H,W]`` bool) ends above the frame's bottom (by
    more than :data:`layout.CONTACT_MARGIN` of the height), the middle of her lowest row: where she stands."""
    H = solid.shape[0]
    out = []
    for k, person in enumerate(people):
        mine = (labels == k) & solid
        rows = torch.nonzero(mine.any(1)).flatten()
        contact = None
        if rows.numel() and int(rows[-1]) < H * (1 - CONTACT_MARGIN):
            y = int(rows[-1])
            cols = torch.nonzero(mine[max(0, y - 2) : y + 1].any(0)).flatten().float()
            contact = (float(cols.mean()) + 0.5, y + 1.0)
        out.append(Standing(person.distance_m, contact, float(person.face.eye_centres[:, 1].mean())))
    return out


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


class Prior(NamedTuple):
    """What the portrait prior gives for one image: ``depth`` ``[H,W]`` metres; ``matte`` ``[H,W]`` 0..1
    (the people, soft along hair); ``meta`` (JSON-able facts); ``layer_alpha`` ``[H,W]`` 0..1, the
    people as a layer over the background for LensBokeh (the matte around heads, where hair is; the
    depth's own hard edge elsewhere)."""

    depth: torch.Tensor
    matte: torch.Tensor
    meta: dict[str, Any]
    layer_alpha: torch.Tensor


def _people_depth(
    people: list[Person],
    labels: torch.Tensor,
    solid: torch.Tensor,
    image: torch.Tensor,
    f_px: float,
    H: int,
    W: int,
    device: torch.device,
) -> tuple[torch.Tensor, list[dict[str, str]]]:
    """``[H,W]`` metres and what was assumed per region, per person: each person over her pixels
    (``labels``, indices into ``people``; ``solid`` ``[H,W]`` bool, the matte's solid part): her eyes at
    her distance, the face mesh's relief over her face, her body's relief from her pose
    (:mod:`body_relief`) elsewhere, or a plane :data:`BODY_BEHIND_M` behind the eyes without a pose. Where
    poses are found, the borders between people follow their bodies (:mod:`body_labels`)."""
    depth = torch.full((H, W), people[0].distance_m + BODY_BEHIND_M, device=device)
    relief: list[dict[str, str]] = []
    poses = [body_pose(image, person.face) for person in people]
    labels = labels_from_bodies(labels, people, poses, solid)
    for k, (person, pose) in enumerate(zip(people, poses)):
        face = person.face
        mine = labels == k
        notes = {"face": "face mesh"}
        if pose is not None:
            body, more = body_relief(pose, mine & solid, H, W, person.distance_m / f_px)
            notes.update(more)
        else:
            body = torch.full((H, W), BODY_BEHIND_M, device=device)
            why = missing_model() or "no pose found"
            notes["body"] = f"{why}: one plane {BODY_BEHIND_M:g} m behind the eyes"
        relief.append(notes)
        here = person.distance_m + body
        eye_z = (
            float(face.irises[:, 0, 2].mean())
            if face.irises is not None
            else float(face.mesh[[33, 133, 362, 263], 2].mean())
        )
        found = head_relief_window(face.mesh, eye_z, person.distance_m / f_px, H, W, device)
        if found is not None:
            patch, cover, (y0, y1, x0, x1) = found
            window = here[y0:y1, x0:x1]
            here[y0:y1, x0:x1] = cover * (person.distance_m + patch) + (1 - cover) * window
        depth = torch.where(mine, here, depth)
    return depth, relief


def find_faces_all(
    image: torch.Tensor, step: Callable[[int], None] = lambda done: None, prob: Optional[torch.Tensor] = None
) -> list[FaceLandmarks]:
    """Mesh and irises of every face in ``image [H,W,3]`` 0..1, each kept when the mesh model accepts it
    (:func:`_confident`): BlazeFace on the whole frame, then on the tiles of the frame (small faces,
    :func:`detect_faces_in_tiles`) where the person segmentation ``prob`` (``[gh,gw]``, computed when not
    given) shows someone the faces found so far do not explain; OpenCV's Haar cascade as a second
    detector when BlazeFace gives none. ``step(done)`` reports progress (2..30 of 100) and may raise to
    cancel."""
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


def find_face(image: torch.Tensor, step: Callable[[int], None] = lambda done: None) -> Optional[FaceLandmarks]:
    """The main face (the nearest by its eyes' size, :func:`find_faces_all`) in ``image [H,W,3]`` 0..1,
    None when no detector finds one. ``step(done)`` reports progress (2..30 of 100) and may raise to cancel."""
    # distance order does not depend on the lens: any focal length ranks the faces alike
    people = people_from_faces(find_faces_all(image, step), 50.0, 1.0)
    return people[0].face if people else None


def _same_person(a: FaceLandmarks, b: FaceLandmarks) -> bool:
    """Two meshes of one face: both eye centres within half the eyes' spacing."""
    gap = float((a.eye_centres - b.eye_centres).norm(dim=-1).max())
    return gap < 0.5 * max(min(a.interpupillary_px, b.interpupillary_px), 1.0)


def subject_matte(
    image: torch.Tensor,
    people: list[Person],
    meta: dict[str, Any],
    step: Callable[[int], None] = lambda done: None,
    check_interrupt: Optional[Callable[[], None]] = None,
    prob: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, list[Person], torch.Tensor]:
    """Subject matte ``[H,W]`` 0..1, the people in it and which of them each pixel belongs to
    (``[H,W]`` uint8 index into that list). The person segmentation where a face was found, split between
    the people (:mod:`people`), else GrabCut from a head-and-shoulders prior around the main face.
    ``step(done)`` reports progress (30..90 of 100) and may raise to cancel."""
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
        matte = refine_to_image(split.prob, image, eps=1e-3, on_band=lambda y, n: step(40 + 35 * y // n))
        if MATTING and split.people:
            meta["matte"] = "selfie segmentation + guided filter, matted around the heads (soft alpha on hair)"
            meta["matting"] = f"closed-form matting on a trimap around {len(split.people)} head(s)"
            chance = F.interpolate(split.prob[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]
            heads = [p.face_box for p in split.people]
            matte = matte_to_alpha(image, matte, heads, chance > HAIR_CHANCE, check_interrupt)
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
    small = _grabcut_matte(rgb, haar, lambda i, n: step(40 + 35 * i // n), check_interrupt)
    matte = torch.from_numpy(small).to(image.device, torch.float32)
    matte = F.interpolate(matte[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]
    matte = guided_refine(matte[None], image[None], eps=1e-4, on_band=lambda y, n: step(75 + 15 * y // n))[0].clamp(
        0, 1
    )
    for p in people:
        p.in_matte = "GrabCut matte around person 1" if p is people[0] else "GrabCut matte (around person 1 only)"
    return matte, people, person_labels(people, H, W, image.device)


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
        mode = cv2.GC_INIT_WITH_MASK if i == 0 else cv2.GC_EVAL
        cv2.grabCut(bgr, mask, None, bgd, fgd, 1, mode)  # type: ignore[call-overload]  # no rect with a mask

    for i in range(GRABCUT_ITERATIONS):
        _interruptible(partial(iteration, i), check_interrupt)
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
