"""Portrait depth without any downloaded weights: people + layout + lens -> metres.

Named honestly: this is an *assumed* depth, not a measurement.
- People (``engine.people``, :func:`find_people`, :func:`place_people`): every face the shipped
  MediaPipe models find (BlazeFace on the frame and on tiles of it, Haar when it finds none) that the
  mesh model accepts is a person, with her own distance and her own part of the person matte (the
  selfie segmentation shared out between the faces, refined along the image's edges and matted around
  the heads; GrabCut from a head-and-shoulders prior without a person found), her pose and relief.
  Objects a person holds are part of her person class and take her body's depth.
- Distance (the eyes), per person: from the iris diameter (11.7 mm), else the interpupillary
  distance, else the face box, else ``DEFAULT_SUBJECT_M``; ``subject_distance_from`` says which. A
  distance given for the main person (the nearest) scales everyone's. The single-subject keys of the
  metadata are hers, ``people`` lists everyone (distance, how it was measured, eyes, relief).
- Relief, per person: the face mesh's depth over the face, easing into her body's relief from her pose
  or a plane a little behind the eyes (``engine.people.relief``).
- Layout (``layout``): the background around the people, at ``background_distance_m`` (moved behind
  the farthest person when she is not in front of it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ..core.progress import Progress
from ..people.finding import find_people, place_people
from ..people.person import Person, eye_positions, main_person, people_meta
from ..people.relief import BODY_BEHIND_M
from .layout import CONTACT_MARGIN, Standing, background_layout, place_on_ground

NAME = "portrait prior (no weights)"
DEFAULT_SUBJECT_M = 1.5  # when no face is found and no distance is given
PROGRESS_STEPS = 100  # progress within one image is reported out of this many steps
FARTHEST_MARGIN = 1.25  # the background at least this much farther than the farthest person


def portrait_prior(
    image: torch.Tensor,
    pixels_per_mm: float,
    focal_length_mm: float,
    subject_distance_m: float,
    background_distance_m: float,
    progress: Progress = Progress(),
) -> Prior:
    """Depth ``[H,W]`` metres, subject matte ``[H,W]`` 0..1, metadata and the people's layer alpha
    ``[H,W]`` for one ``image [H,W,3]`` 0..1 (:class:`Prior`).

    Every face found is a person with her own distance and her own part of the matte; the metadata's
    single-subject keys (``eye_xy``, ``subject_distance_m``, ``subject_distance_from``, ``face_box_rel``,
    …) are the main person's, the nearest; ``people`` lists them all (:func:`people.people_meta`).
    ``progress`` (this image's, counted in :data:`PROGRESS_STEPS` steps) moves with the work; Cancel
    is honoured between steps of well under a second each.
    """
    step = progress.on_step(PROGRESS_STEPS)

    H, W, _ = image.shape
    image = image[..., :3].float()
    people, prob = find_people(image, focal_length_mm, pixels_per_mm, progress)
    main = main_person(people)
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

    placed = place_people(image, people, prob, focal_length_mm * pixels_per_mm, progress)
    meta.update(placed.meta)
    if placed.depth_m is not None:
        meta["people_found"] = len(people)
        meta["people"] = people_meta(people, H, W)
        depth_subject = placed.depth_m
        meta["relief"] = placed.relief[0]
        by_number = {p.number: notes for p, notes in zip(placed.in_matte or people[:1], placed.relief)}
        for row in meta["people"]:
            if row["person"] in by_number:
                row["relief"] = by_number[row["person"]]
    else:
        depth_subject = torch.full((H, W), subject_m + BODY_BEHIND_M, device=image.device)
    # depth takes a hard edge inside the matte's soft one: mixed hair/background pixels stay with the
    # sharp subject instead of smearing hair colour into the blurred background (a halo)
    solid, matte, alpha = placed.solid, placed.matte, placed.alpha
    standing = people_standing(placed.placed, placed.labels, solid)
    # each person on the ground she stands on; the floor or table in front that the matte took is ground
    bodies = [None if pose is None else pose.body >= 0.5 for pose in placed.poses]
    standing, front = place_on_ground(solid, placed.labels, bodies, depth_subject, standing)
    if front is not None:
        solid, matte, alpha = solid & ~front, matte.masked_fill(front, 0.0), alpha.masked_fill(front, 0.0)
    hard = solid.to(matte.dtype)
    layout = background_layout(image, solid, standing, background_distance_m, in_front=front)
    meta["layout"] = {"summary": layout.summary, **layout.meta}
    disp = hard / depth_subject + (1 - hard) / layout.depth
    # the layer LensBokeh lays over the background: soft (matted) around heads, the depth's edge elsewhere
    step(PROGRESS_STEPS)
    return Prior(1.0 / disp, matte, meta, alpha)


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


class Prior(NamedTuple):
    """What the portrait prior gives for one image: ``depth`` ``[H,W]`` metres; ``matte`` ``[H,W]`` 0..1
    (the people, soft along hair); ``meta`` (JSON-able facts); ``layer_alpha`` ``[H,W]`` 0..1, the
    people as a layer over the background for LensBokeh (the matte around heads, where hair is; the
    depth's own hard edge elsewhere)."""

    depth: torch.Tensor
    matte: torch.Tensor
    meta: dict[str, Any]
    layer_alpha: torch.Tensor
