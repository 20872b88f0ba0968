"""Which person each pixel of the matte belongs to, from the people's bodies instead of boxes.

The silhouette prior (:func:`people.person_labels`: a head around each face, a body about three face
widths wide below it, down to the frame's edge) draws straight borders between people: a held helmet,
an arm or a shoulder falls to whoever's box it lies in. Where a person's pose was found, her own body
segmentation (BlazePose's) says which pixels are hers; without a pose, her silhouette down to
:data:`SILHOUETTE_BELOW_CHIN` face heights below her chin (her shoulders: what a face alone tells). The
nearer person wins where two overlap (she is in front). A body reaches no lower than her lowest landmark
the pose saw. Of the rest of the matte, a piece a hand holds (:func:`body_relief.holding_hand`: within
reach, no larger than one can hold) is that hand's person's; the rest (a table, what the segmentations
disagree on) goes to the nearest body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch

from .body_pose import BodyPose
from .body_relief import HELD, SEEN, holding_hand
from .person import CHIN, Person

SILHOUETTE_BELOW_CHIN = 2.0  # face heights: how far below her chin a person without a pose is known to be


def labels_from_bodies(
    labels: torch.Tensor, people: Sequence[Person], poses: Sequence[Optional[BodyPose]], solid: torch.Tensor
) -> torch.Tensor:
    """``[H,W]`` uint8 index into ``people`` (nearest first) for the matte's solid pixels.

    labels: ``[H,W]`` uint8, the silhouette prior's (kept outside ``solid``). poses: one per person,
    None where none was found. solid: ``[H,W]`` bool, the matte's solid part.
    """
    import cv2

    if len(poses) <= 1 or all(p is None for p in poses):
        return labels
    H, W = labels.shape
    solid_np = solid.cpu().numpy()
    old = labels.cpu().numpy()
    rows = np.arange(H)[:, None] + 0.5
    out = old.copy()
    claimed = np.zeros((H, W), bool)
    bodies = []
    for k, (person, pose) in enumerate(zip(people, poses)):  # nearest first: she is in front
        if pose is None:
            lowest = person.centre[1] + (CHIN + SILHOUETTE_BELOW_CHIN) * person.size[1]
            body = solid_np & (old == k) & (rows <= lowest)
        else:
            body = solid_np & (pose.body.cpu().numpy() >= 1.0 - HELD) & (rows <= _lowest_seen(pose, person))
        if not body.any():
            continue
        out[body & ~claimed] = k
        claimed |= body
        bodies.append((k, body))
    rest = solid_np & ~claimed
    if not (rest.any() and claimed.any()):
        return torch.from_numpy(out).to(labels.device)
    nearest = np.full((H, W), np.inf, np.float32)  # the nearest body, by a running minimum
    for k, body in bodies:
        dist = cv2.distanceTransform((~body).astype(np.uint8), cv2.DIST_L2, 3)
        closer = rest & (dist < nearest)
        out[closer] = k
        nearest[closer] = dist[closer]
    # what a hand holds: a piece of the rest that a hand holds (body_relief.holding_hand) is that hand's person's
    n, pieces, stats, _ = cv2.connectedComponentsWithStats(rest.astype(np.uint8), connectivity=8)
    for c in range(1, n):
        x0, y0, w, h = (int(v) for v in stats[c, :4])
        piece = pieces[y0 : y0 + h, x0 : x0 + w] == c
        iy, ix = np.nonzero(piece)
        px, py = ix + x0 + 0.5, iy + y0 + 0.5
        holder, best = None, np.inf
        for k, pose in enumerate(poses):
            hand = None if pose is None else holding_hand(pose, px, py)
            # no larger than what one holds (not a table and whoever sits behind it)
            if hand is not None and hand[2] and hand[0] < best:
                holder, best = k, hand[0]
        if holder is not None:
            out[y0 : y0 + h, x0 : x0 + w][piece] = holder
    return torch.from_numpy(out).to(labels.device)


def _lowest_seen(pose: BodyPose, person: Person) -> float:
    """The lowest image row (px) her body reaches as the pose saw it: her lowest landmark seen (visibility
    above :data:`SEEN`), plus half a face height; below it a body segmentation is guessing (a person cut
    by the frame's edge, someone else's held object in front of where her legs would be)."""
    seen = pose.visibility >= SEEN
    if not bool(seen.any()):
        return person.centre[1] + (CHIN + SILHOUETTE_BELOW_CHIN) * person.size[1]
    return float(pose.points[seen, 1].max()) + 0.5 * person.size[1]
