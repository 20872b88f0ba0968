"""Borders between people follow their bodies: each person's pose segmentation, the nearer one in front,
a body no lower than what the pose saw, what a hand holds to that hand's person, the rest to the
nearest body."""

from __future__ import annotations

import math

import torch

from portraitos.engine.faces.landmarks import Detection, FaceLandmarks
from portraitos.engine.people.body_labels import labels_from_bodies
from portraitos.engine.people.body_pose import BodyPose
from portraitos.engine.people.person import Person

H, W = 200, 300


def _person(cx: float, cy: float, size: float, number: int) -> Person:
    t = torch.linspace(0, 2 * math.pi, 468)
    mesh = torch.stack([cx + size / 2 * torch.cos(t), cy + 0.65 * size * torch.sin(t), torch.zeros(468)], 1)
    det = Detection((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), torch.zeros(6, 2), 1.0)
    return Person(FaceLandmarks(det, mesh, 1.0, None, None), 2.0 * number, "test", number)


def _pose(cx: float, body: torch.Tensor, seen_to_y: float, hand: tuple[float, float]) -> BodyPose:
    """A pose centred at x ``cx``: shoulders 60 px apart at y 60, both hands at ``hand``, landmarks below
    ``seen_to_y`` not seen."""
    pts = torch.zeros(33, 2)
    pts[:, 0], pts[:, 1] = cx, 40.0
    pts[11], pts[12] = torch.tensor([cx + 30, 60.0]), torch.tensor([cx - 30, 60.0])
    pts[13:23] = torch.tensor(hand)
    pts[23:25, 1], pts[25:, 1] = 150.0, 190.0
    visibility = (pts[:, 1] <= seen_to_y).float()
    return BodyPose(pts, visibility, torch.zeros(33, 3), 1.0, body)


def test_borders_follow_the_bodies_and_a_held_object_goes_to_the_hand_holding_it():
    near_body = torch.zeros(H, W)
    near_body[20:, 40:120] = 1.0
    helmet = (slice(150, 190), slice(125, 175))  # held by the nearer person, in front of the farther one
    far_body = torch.zeros(H, W)
    far_body[20:, 180:260] = 1.0
    far_body[helmet] = 1.0  # the farther person's segmentation takes it for hers
    solid = (near_body > 0.5) | (far_body > 0.5)
    people = [_person(80, 40, 30, 1), _person(220, 40, 30, 2)]
    poses = [_pose(80, near_body, 200, (130.0, 150.0)), _pose(220, far_body, 120, (230.0, 110.0))]
    boxes = torch.zeros(H, W, dtype=torch.uint8)
    boxes[:, 150:] = 1  # the silhouette prior's straight border
    labels = labels_from_bodies(boxes, people, poses, solid)
    assert bool((labels[helmet] == 0).all())  # the hand holding it, not whoever's box or segmentation
    assert bool((boxes[helmet] == 1).any())  # (the boxes cut it in two)
    assert bool((labels[20:140, 180:260] == 1).all())  # her body where the pose saw it
    assert bool((labels[150:, 180:260] == 1).all())  # below that: not held by anyone, the nearest body
    assert bool((labels[20:, 40:120] == 0).all())
    # outside the matte the prior's labels stay; one pose or none changes nothing
    assert bool((labels[~solid] == boxes[~solid]).all())
    assert torch.equal(labels_from_bodies(boxes, people[:1], poses[:1], solid), boxes)
    assert torch.equal(labels_from_bodies(boxes, people, [None, None], solid), boxes)


def test_without_a_pose_a_person_is_known_down_to_her_shoulders():
    solid = torch.zeros(H, W, dtype=torch.bool)
    solid[20:, 40:120] = True
    solid[20:, 180:260] = True
    solid[185:, 40:260] = True  # a table joining them at the bottom
    near_body = torch.zeros(H, W)
    near_body[20:, 40:120] = 1.0
    people = [_person(80, 40, 30, 1), _person(220, 40, 20, 2)]
    boxes = torch.zeros(H, W, dtype=torch.uint8)
    boxes[:, 150:] = 1
    labels = labels_from_bodies(boxes, people, [_pose(80, near_body, 200, (60.0, 120.0)), None], solid)
    assert bool((labels[20:80, 180:260] == 1).all())  # her head and shoulders: her silhouette
    assert bool((labels[20:, 40:120] == 0).all())
    # the table: split between the nearest bodies, not held (too large, out of reach)
    assert int(labels[195, 60]) == 0 and int(labels[195, 240]) == 1
