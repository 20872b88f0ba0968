"""The people's depth where they stand: each person over her pixels, her eyes at her distance, the face
mesh's relief over her face, her body's relief from her BlazePose pose (shoulders, arms, hands and what
they hold, :mod:`body_relief`), or a plane a little behind the eyes when no pose is found.

Depth in metres ``[H,W]``; images ``[H,W,3]`` float 0..1.
"""

from __future__ import annotations

from typing import Optional

import torch

from .body_labels import labels_from_bodies
from .body_pose import BodyPose, body_pose, missing_model
from .body_relief import body_relief
from .head_relief import head_relief_window
from .person import Person

BODY_BEHIND_M = 0.10  # shoulders/torso/hair behind the eye plane


def people_depth(
    people: list[Person],
    labels: torch.Tensor,
    solid: torch.Tensor,
    image: torch.Tensor,
    f_px: float,
    H: int,
    W: int,
    device: torch.device,
) -> tuple[torch.Tensor, list[dict[str, str]], list[Optional[BodyPose]]]:
    """``[H,W]`` metres, and per person what was assumed where and her body pose (or None): each person
    over her pixels (``labels``, indices into ``people``; ``solid`` ``[H,W]`` bool, the matte's solid
    part): her eyes at her distance, the face mesh's relief over her face, her body's relief from her pose
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
    return depth, relief, poses
