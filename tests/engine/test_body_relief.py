"""Body relief from the pose: the body's depth follows the pose's landmarks, what a hand holds takes the
hand's depth, and on the sample photo the held helmet comes out nearer than the torso."""

from __future__ import annotations

import torch
from skimage import data

from portraitos.engine.depth.portrait_prior import portrait_prior
from portraitos.engine.people.body_pose import BodyPose, body_pose
from portraitos.engine.people.body_relief import body_relief
from portraitos.engine.people.face_finding import find_faces_all


def _pose(z: dict[int, float], body: torch.Tensor) -> BodyPose:
    """A standing pose on a 200 × 200 frame: shoulders at y 60, hips at y 150, hands in front at y 110."""
    pts = torch.zeros(33, 2)
    pts[0], pts[2], pts[5] = torch.tensor([100.0, 36.0]), torch.tensor([95.0, 30.0]), torch.tensor([105.0, 30.0])
    pts[7], pts[8] = torch.tensor([112.0, 32.0]), torch.tensor([88.0, 32.0])
    pts[11], pts[12] = torch.tensor([140.0, 60.0]), torch.tensor([60.0, 60.0])
    pts[13], pts[14] = torch.tensor([150.0, 100.0]), torch.tensor([50.0, 100.0])
    pts[[15, 17, 19, 21]] = torch.tensor([130.0, 115.0])
    pts[[16, 18, 20, 22]] = torch.tensor([70.0, 115.0])
    pts[23], pts[24] = torch.tensor([125.0, 150.0]), torch.tensor([75.0, 150.0])
    pts[25:] = torch.tensor([100.0, 260.0])  # legs out of frame
    world = torch.zeros(33, 3)
    for i, v in z.items():
        world[i, 2] = v
    return BodyPose(pts, torch.ones(33), world, 1.0, body)


def test_the_body_follows_the_pose_and_a_held_object_takes_its_hands_depth():
    H = W = 200
    z = {2: 0.0, 5: 0.0, 11: 0.15, 12: 0.15, 13: 0.1, 14: 0.1, 23: 0.25, 24: 0.25}
    z.update({i: -0.05 for i in (15, 17, 19, 21)})  # the image-right hand
    z.update({i: 0.05 for i in (16, 18, 20, 22)})
    body = torch.zeros(H, W)
    body[20:, 40:160] = 1.0
    person = body > 0.5
    person[105:135, 135:175] = True  # a box beside the image-right hand: in the matte, not the body
    body[105:135, 135:175] = 0.0
    offset, notes = body_relief(_pose(z, body), person, H, W)
    # along the torso: shoulders, then hips farther, as the pose says (within 2 cm)
    assert abs(float(offset[62, 80]) - 0.15) < 0.02
    assert abs(float(offset[150, 100]) - 0.25) < 0.02
    assert float(offset[105, 100]) > float(offset[62, 100]) + 0.03  # grows smoothly down the torso
    # the held box: the hand's depth, in front of the body beside it
    assert abs(float(offset[120, 160]) - (-0.05)) < 1e-6
    assert "hand" in notes["held"] and "BlazePose" in notes["body"]
    # at the picture's scale the box is round: its middle nearer than the hand by its inscribed radius
    # (15 px of a 30 × 40 px box, 5 mm per px: 7.5 cm), its outline at the hand's depth
    rounded, notes_round = body_relief(_pose(z, body), person, H, W, metres_per_px=0.005)
    assert abs(float(rounded[120, 155]) - (-0.05 - 0.075)) < 0.01
    assert abs(float(rounded[105, 155]) - (-0.05)) < 0.03
    assert float(rounded[120, 155]) < float(rounded[110, 155]) < float(rounded[105, 155])
    assert "front 0.07 m nearer" in notes_round["held"] or "front 0.08 m nearer" in notes_round["held"]
    # a hand the pose does not see (behind what it holds) on a forearm that does not reach forward (wrist and
    # elbow level): its depth is a guess, so the box is centred on the body around it instead
    level = {**z, **{i: 0.1 for i in (15, 17, 19, 21)}}  # the elbow's depth
    hidden = _pose(level, body)
    hidden.visibility[[15, 17, 19, 21]] = 0.0
    around, _ = body_relief(hidden, person, H, W, metres_per_px=0.005)
    ring = torch.zeros(H, W, dtype=torch.bool)
    ring[102:138, 132:178] = True
    ring[105:135, 135:175] = False
    body_around = float(around[ring].median())  # the body just outside the box
    assert body_around > 0.1  # the torso behind the eyes, behind the hidden hand's guess of 10 cm
    assert abs(float(around[120, 155]) - (body_around - 0.075)) < 0.01  # its middle: 7.5 cm nearer than that
    assert float(around[120, 155]) < float(around[110, 155]) < float(around[105, 155]) < body_around
    assert "hand is hidden" in body_relief(hidden, person, H, W)[1]["held"]
    assert "hand is hidden" not in notes["held"]
    # the same hidden hand on a forearm reaching towards the camera (wrist 15 cm nearer than the elbow): the
    # arm the pose sees places the hand, and what it holds, in front of the body (a helmet held forward)
    reaching = _pose(z, body)
    reaching.visibility[[15, 17, 19, 21]] = 0.0
    forward, forward_notes = body_relief(reaching, person, H, W, metres_per_px=0.005)
    assert abs(float(forward[120, 155]) - (-0.05 - 0.075)) < 0.01
    assert float(forward[120, 155]) < float(around[120, 155]) - 0.1
    assert "forearm" in forward_notes["held"] and "hand is hidden" in forward_notes["held"]
    # the whole arm hidden (its elbow as unseen as its hand): the forearm's reach is a guess too, the box is
    # centred on the body around it
    unseen = _pose(z, body)
    unseen.visibility[[13, 15, 17, 19, 21]] = 0.1
    guessed, guessed_notes = body_relief(unseen, person, H, W, metres_per_px=0.005)
    assert "forearm" not in guessed_notes["held"]
    assert float(guessed[120, 155]) > float(forward[120, 155]) + 0.1
    # without the box nothing is held
    body2 = body.clone()
    body2[105:135, 135:175] = 1.0
    _, notes2 = body_relief(_pose(z, body2), body2 > 0.5, H, W)
    assert "held" not in notes2


def test_the_sample_portrait_has_a_body_behind_the_eyes_and_the_helmet_in_front():
    img = torch.from_numpy(data.astronaut()).float() / 255
    face = find_faces_all(img)[0]
    pose = body_pose(img, face)
    assert pose is not None and pose.score > 0.9
    behind = pose.behind_eyes_m()
    assert 0.05 < float(behind[[11, 12]].mean()) < 0.4  # shoulders behind the eyes
    depth, matte, meta, _layer = portrait_prior(img, 512 / 36, 85.0, 0.0, 6.0)
    eyes = meta["subject_distance_m"]
    torso = float(depth[250:300, 150:250].median())  # her chest
    helmet = float(depth[400:480, 340:460].median())  # the helmet she holds at the lower right
    assert float(matte[400:480, 340:460].mean()) > 0.9  # the helmet is in the person matte
    assert torso > eyes + 0.05
    assert helmet < torso - 0.1
    # her left forearm reaches towards the camera under the helmet (the pose's wrist nearer than its elbow):
    # the helmet lies in front of her eyes, not only of her chest
    assert helmet < eyes - 0.05, (helmet, eyes)
    assert "forearm" in meta["relief"]["held"]
    assert "held" in meta["relief"] and meta["people"][0]["relief"] == meta["relief"]


def test_a_pose_on_someone_elses_face_is_refused():
    img = torch.from_numpy(data.astronaut()).float() / 255
    face = find_faces_all(img)[0]
    # the same mesh moved onto the flag: the pose found there (hers) does not start from that face
    moved = type(face)(face.detection, face.mesh + torch.tensor([-180.0, 200.0, 0.0]), face.mesh_score, None, None)
    assert body_pose(img, moved) is None


def test_without_the_pose_model_the_body_is_one_plane_and_the_metadata_says_why(monkeypatch):
    from portraitos.engine.people import body_pose as pose_module

    # an install whose pose model files were removed (they ship with the pack)
    monkeypatch.setattr(pose_module, "installed", lambda name: False)
    img = torch.from_numpy(data.astronaut()).float() / 255
    assert body_pose(img, find_faces_all(img)[0]) is None
    depth, _, meta, _layer = portrait_prior(img, 512 / 36, 85.0, 0.0, 6.0)
    assert "pose model not installed" in meta["relief"]["body"] and "held" not in meta["relief"]
    eyes = meta["subject_distance_m"]
    assert abs(float(depth[250:300, 150:250].median()) - (eyes + 0.10)) < 0.01  # the plane behind the eyes
