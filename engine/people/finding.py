"""The people in one photo, found, segmented, posed and relieved: the :class:`People` value that depth
builds a portrait's metres on (``depth.portrait_prior``: people + layout + lens -> metres).

In two steps, so the caller may set the people's distances between them (a distance the user gave):
:func:`find_people` finds who is where and how far (every face the mesh model accepts is a person, with
her distance from her eyes' size and the lens), :func:`place_people` gives them their matte, which
pixel is whose, their poses and their relief.

Images ``[H,W,3]`` float 0..1; coordinates in image pixels; distances and depth in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..core.progress import Progress
from .body_pose import BodyPose
from .face_finding import find_faces_all
from .matting import head_mask
from .person import Person, people_from_faces
from .person_matte import person_probability
from .relief import people_depth
from .subject_matte import solid_part, subject_matte


@dataclass
class People:
    """Who is in a photo ``[H,W]``, where, how far, their matte, poses and relief.

    found: every person found, nearest first (:class:`Person`: her face, distance in metres and how it
      was measured, her number from 1); empty when no face was found.
    in_matte: the people the matte holds (``labels`` indexes into it); empty when the matte holds none.
    matte: ``[H,W]`` float 0..1, the people (soft along hair).
    labels: ``[H,W]`` uint8, whose each pixel is: an index into ``in_matte`` (or ``found[:1]`` when
      ``in_matte`` is empty).
    solid: ``[H,W]`` bool, where the matte is solid enough to take the people's depth.
    heads: ``[H,W]`` bool where the hair around the heads was matted; None when it was not.
    alpha: ``[H,W]`` float 0..1, the people as a layer over what lies behind them: the matte around the
      heads (where hair is), the solid part's hard edge elsewhere.
    depth_m: ``[H,W]`` float metres, the people's depth over the frame (read where ``solid``); None when
      no face was found.
    relief: per placed person (``in_matte``, else the nearest found), what was assumed where.
    poses: per placed person, her body pose, or None where none was found.
    meta: the matte's JSON-able facts (``matte``, ``matte_notes``, ``matting``).
    """

    found: list[Person]
    in_matte: list[Person]
    matte: torch.Tensor
    labels: torch.Tensor
    solid: torch.Tensor
    heads: Optional[torch.Tensor]
    alpha: torch.Tensor
    depth_m: Optional[torch.Tensor]
    relief: list[dict[str, str]] = field(default_factory=list)
    poses: list[Optional[BodyPose]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def placed(self) -> list[Person]:
        """The people the frame's pixels belong to: those in the matte, else everyone found."""
        return self.in_matte or self.found


def find_people(
    image: torch.Tensor,
    focal_length_mm: float,
    pixels_per_mm: float,
    progress: Progress = Progress(),
) -> tuple[list[Person], torch.Tensor]:
    """Every person in ``image [H,W,3]`` 0..1, nearest first, each with her distance (metres) from her eyes'
    size through a lens of ``focal_length_mm`` on a sensor of ``pixels_per_mm``; and the person
    segmentation's probability ``[gh,gw]`` on its own grid (for :func:`place_people`). ``progress``
    (the image's, of 100 steps) moves through 2..30 of it, Cancel honoured at each step."""
    step = progress.on_step(100)
    step(2)
    prob = person_probability(image)
    found = people_from_faces(find_faces_all(image, progress, prob), focal_length_mm, pixels_per_mm)
    step(30)
    return found, prob


def place_people(
    image: torch.Tensor,
    found: list[Person],
    prob: Optional[torch.Tensor],
    focal_px: float,
    progress: Progress = Progress(),
) -> People:
    """The people of ``found`` (:func:`find_people`, at their final distances) in ``image [H,W,3]`` 0..1:
    their matte, labels, poses and relief, with ``focal_px`` the focal length in pixels. ``progress``
    (the image's, of 100 steps) moves through 30..95 of it; Cancel is honoured at each step and within
    the longer ones."""
    step = progress.on_step(100)
    H, W, _ = image.shape
    meta: dict[str, Any] = {}
    matte, kept, labels = subject_matte(image, found, meta, progress, prob)
    step(90)
    heads = head_mask([p.face_box for p in kept or found], H, W, image.device) if "matting" in meta else None
    solid = solid_part(matte, heads)
    depth_m: Optional[torch.Tensor] = None
    relief: list[dict[str, str]] = []
    poses: list[Optional[BodyPose]] = []
    if found:
        depth_m, relief, poses = people_depth(kept or found[:1], labels, solid, image, focal_px, H, W, image.device)
        step(95)
    hard = solid.to(matte.dtype)
    alpha = hard if heads is None else torch.where(heads, matte, hard)
    return People(found, kept, matte, labels, solid, heads, alpha, depth_m, relief, poses, meta)
