"""The background's own depth (engine/depth/layout.py) on exact pinhole renders of receding scenes,
flat backdrops left as one plane, and relative depth calibrated with every anchor there is."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from portraitos.engine.depth import layout
from portraitos.engine.depth.calibration import Anchor, calibrate_with_anchors
from portraitos.engine.depth.layout import Standing, background_layout, contacts_from_bodies, floor_in_front
from portraitos.engine.lens.optics import ThinLens
from portraitos.validation.reference import card, pattern_texture, render_pinhole, shape_texture, to_photo
from portraitos.validation.scenes import CAMERA_HEIGHT_MM, facade_scene, group_scene, photo_texture, street_scene

H, W = 240, 320  # a landscape frame, 85 mm on full frame
SUBJECT_M = 3.0


def person_card():
    """A person-sized card (an ellipse 0.5 × 0.8 m, its bottom on the floor of the receding scenes)."""
    return shape_texture(
        pattern_texture(15.0, (1.0, 0.75, 0.6), 0.8), lambda x, y: (x / 250.0) ** 2 + ((y - 8.0) / 400.0) ** 2 <= 1.0
    )


def render(planes):
    lin, depth = render_pinhole(planes, ThinLens(85.0, 1.8, SUBJECT_M), H, W, pixel_samples=2)
    return to_photo(lin), depth


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double().flatten(), b.double().flatten()]))[0, 1])


@pytest.fixture(scope="module")
def facade():
    photo, depth = render(facade_scene(person_card()))
    people = (depth - SUBJECT_M).abs() < 1e-3
    return photo, depth, people


def test_an_oblique_facade_recedes_as_its_true_disparity(facade):
    photo, depth, people = facade
    out = background_layout(photo, people, [Standing(SUBJECT_M, None, H / 2)], 6.0)
    bg = ~people
    assert out.receding and out.meta["background"] == "receding wall", out.summary
    # inverse depth follows the truth across the wall, the near side near, the far side far
    assert correlation(1 / out.depth[bg], 1 / depth[bg]) > 0.95
    left, right = out.depth[:, :20][bg[:, :20]].median(), out.depth[:, -20:][bg[:, -20:]].median()
    true_left, true_right = depth[:, :20][bg[:, :20]].median(), depth[:, -20:][bg[:, -20:]].median()
    assert float(left) == pytest.approx(float(true_left), rel=0.3)
    # it recedes, but less than the truth: fine texture far away turns to pixel noise, whose frequency
    # stops growing (the far side comes out nearer: less blur, never more)
    assert float(true_right / true_left) > 3.0
    assert 1.6 < float(right / left) < float(true_right / true_left)
    assert "texture" in out.meta["from"] and "behind the people" in out.meta["anchor"]


def test_the_street_is_a_ground_plane_fixed_by_where_she_stands():
    photo, depth = render(street_scene(person_card()))
    people = (depth - SUBJECT_M).abs() < 1e-3
    rows = torch.nonzero(people.any(1)).flatten()
    bottom = int(rows[-1]) + 1
    cols = torch.nonzero(people[bottom - 1]).flatten().float()
    f_px = 85.0 * W / 36.0
    horizon = H / 2 - 0.0 * f_px  # the camera is level: the horizon through the frame's middle
    out = background_layout(photo, people, [Standing(SUBJECT_M, (float(cols.mean()), float(bottom)), horizon)], 6.0)
    assert out.receding and out.meta["background"].startswith("ground plane"), out.summary
    assert "ground contact" in out.meta["anchor"]
    # the ground at the frame's bottom: Z = h·f/(y − y_horizon), the true camera height
    z_bottom = CAMERA_HEIGHT_MM / 1000 * f_px / (H - 0.5 - H / 2)
    assert float(out.depth[-1, -40:].median()) == pytest.approx(z_bottom, rel=0.12)
    bg = ~people & (depth < 30)
    assert correlation(1 / out.depth[bg], 1 / depth[bg]) > 0.85
    # the ground recedes upwards: every column's depth grows from the bottom towards the horizon
    col = out.depth[H // 2 + 5 :, -30]
    assert bool((col[:-1] >= col[1:] - 1e-4).all())


GROUP = (3.0, 4.2, 5.6)  # group_scene's rows (m); its wall at 10 m


def cards_standing(depth: torch.Tensor, distances: tuple[float, ...]) -> tuple[list[torch.Tensor], list[Standing]]:
    """Each card's pixels and the person it stands for: her distance, her eyes 0.25 m above the camera's
    height (a level camera: the horizon is the frame's middle) and no contact (the outline is what the
    matte would give; the contacts come from the bodies)."""
    f_px = 85.0 * W / 36.0
    masks = [(depth - z).abs() < 1e-3 for z in distances]
    return masks, [Standing(z, None, H / 2 - 0.25 * f_px / z) for z in distances]


def test_a_group_on_a_floor_stands_on_the_ground_before_a_wall_at_its_foot():
    """Three rows of a group on a grass floor before a brick wall at 10 m; the person matte has run on
    into the floor (as the selfie segmentation does on grass). The bodies end where each row stands: the
    ground the rows stand on comes from those contacts and the eye line, the floor in the matte is taken
    out of it and put on the ground, and the wall is found at its foot (the row where the floor's colour
    meets the wall's) at the ground's depth there. Without the people's contacts, no ground."""
    photo, depth = render(group_scene(person_card()))
    bodies, standing = cards_standing(depth, GROUP)
    people = bodies[0] | bodies[1] | bodies[2]
    floor = (depth < 9.9) & ~people
    standing = contacts_from_bodies(standing, bodies, H)
    assert standing[0].contact_xy is not None and standing[2].contact_xy is not None
    # each contact is where the true floor is at her distance (the floor's row just below her body)
    for st, z in zip(standing, GROUP):
        assert st.contact_xy is not None
        x, y = st.contact_xy
        row = depth[int(y) : int(y) + 3].reshape(-1)
        assert float(row[row < 9.9].median()) == pytest.approx(z, rel=0.06)
    solid = people | (floor & (depth < GROUP[-1]))  # the matte ran on into the floor in front of the rows
    nearest = torch.full((H, W), GROUP[-1])  # the floor given to the farthest row's depth
    people_depth = torch.where(people, depth, nearest)
    front = floor_in_front(solid, bodies, torch.zeros_like(solid), people_depth, standing)
    assert bool((front & people).sum() == 0)
    in_front_rows = depth < 0.85 * GROUP[-1]
    assert float((front & in_front_rows).sum()) > 0.95 * float((solid & floor & in_front_rows).sum())
    out = background_layout(photo, solid & ~front, standing, 6.0, in_front=front)
    assert out.receding and out.meta["background"] == "ground plane + wall at its foot", out.summary
    wall = (depth - 10.0).abs() < 1e-3
    assert float(out.depth[wall].median()) == pytest.approx(10.0, rel=0.15)
    seen = floor & ~F.max_pool2d(people.float()[None, None], 5, 1, 2)[0, 0].bool()
    assert correlation(1 / out.depth[seen], 1 / depth[seen]) > 0.9
    assert float((out.depth[seen] / depth[seen]).median()) == pytest.approx(1.0, abs=0.1)
    flat = [Standing(st.distance_m, None, st.eye_y) for st in standing]
    assert not background_layout(photo, solid, flat, 6.0).meta["background"].startswith("ground plane")


def test_a_card_floating_before_a_wall_gives_no_ground():
    """A person whose body ends mid-frame before a flat brick wall (nothing below her but the wall): the
    ground her contact would give has no floor's edge to meet, so the background stays one plane."""
    photo, depth = render([card(6.0, photo_texture("brick", 1500.0, (0.9, 0.8, 0.7))), card(4.2, person_card())])
    bodies, standing = cards_standing(depth, (4.2,))
    standing = contacts_from_bodies(standing, bodies, H)
    assert standing[0].contact_xy is not None
    out = background_layout(photo, bodies[0], standing, 6.0)
    assert not out.receding and bool((out.depth == 6.0).all()), out.summary


@pytest.mark.parametrize(
    "backdrop",
    [
        pattern_texture(70.0, (0.7, 0.8, 1.0), 0.6),  # the synthetic wall the portrait tests use
        photo_texture("brick", 1500.0, (0.9, 0.8, 0.7)),  # a real brick wall, face on
        lambda x, y: (torch.full((*x.shape, 3), 0.2, dtype=x.dtype), torch.ones_like(x)),  # a plain backdrop
    ],
)
def test_flat_backdrops_stay_one_plane_at_the_assumed_distance(backdrop):
    photo, depth = render([card(6.0, backdrop), card(SUBJECT_M, person_card())])
    people = (depth - SUBJECT_M).abs() < 1e-3
    out = background_layout(photo, people, [Standing(SUBJECT_M, None, H / 2)], 6.0)
    assert not out.receding, out.summary
    assert bool((out.depth == 6.0).all())
    assert "assumed" in out.summary


def test_the_layout_off_gives_one_plane_whatever_the_photo(facade):
    photo, _, people = facade
    layout.ENABLED = False
    try:
        out = background_layout(photo, people, [Standing(SUBJECT_M)], 6.0)
    finally:
        layout.ENABLED = True
    assert not out.receding and bool((out.depth == 6.0).all())


def test_relative_disparity_is_calibrated_by_every_person_without_an_assumed_background():
    """Three people at known distances in a relative (affine) disparity map: the fit needs no assumed
    far plane, recovers metres within 1 %, and names its anchors; with one person it says what it
    assumed for the second."""
    z = torch.linspace(2.0, 40.0, 200).view(-1, 1).expand(200, 100).contiguous()  # a receding scene
    rel = 0.37 / z + 1.3  # what a relative network gives: affine in disparity
    regions, anchors = [], []
    for row in (0, 40, 90):
        m = torch.zeros_like(z, dtype=torch.bool)
        m[row : row + 3, 40:61] = True  # an odd count: the medians of z and of rel are one pixel
        regions.append(m)
        anchors.append(Anchor(f"person at {float(z[row + 1, 0]):.2f} m", m, 1.0 / float(z[row + 1, 0])))
    depth, fit = calibrate_with_anchors(rel, anchors, fallback_far_m=6.0)
    assert float(((depth - z).abs() / z).max()) < 0.01, fit
    assert fit["anchors"] == [a.name for a in anchors] and not any("assumed" in a for a in fit["anchors"])
    # one person only: the far background is assumed, and said
    _, fit1 = calibrate_with_anchors(rel, anchors[:1], fallback_far_m=6.0)
    assert any("assumed at 6 m" in a for a in fit1["anchors"])
    # a wrong anchor (a misread distance) is outvoted by the others
    bad = anchors + [Anchor("misread", regions[1], 1.0 / 30.0, 0.5)]
    depth_b, _ = calibrate_with_anchors(rel, bad, fallback_far_m=6.0)
    assert float(((depth_b - z).abs() / z).median()) < 0.03


def test_a_relative_network_fed_known_disparity_is_calibrated_by_every_person(tmp_path):
    """A real (tiny) Depth Anything network whose output is replaced by a known affine disparity of a
    scene: InsightFace's t1.jpg, each person at the distance her face gives, the background receding from
    8 m at the bottom to 30 m at the top. The fit uses the people alone (no assumed far plane), and the
    background comes out at its own 8–30 m, not squeezed into ``background_distance_m``."""
    import insightface
    import numpy as np
    from PIL import Image

    from portraitos.engine.depth import EstimateSettings, estimate_depth, load_hf_folder
    from portraitos.testing.tiny_depth_models import save_hf_folder, tiny_depth_anything

    path = next(p for p in (Path(insightface.__file__).parent / "data" / "images").iterdir() if p.name == "t1.jpg")
    img = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).float()[None] / 255
    prior, _ = estimate_depth(img, EstimateSettings())
    people = prior.meta["people"]
    assert len(people) >= 3

    def scene(h: int, w: int) -> torch.Tensor:
        z = 30.0 + (8.0 - 30.0) * torch.linspace(0, 1, h).view(-1, 1).expand(h, w)
        z = z.clone()
        for p in people:
            x, y, bw, bh = p["face_box_rel"]
            z[int(y * h) : int((y + bh) * h) + 1, int(x * w) : int((x + bw) * w) + 1] = p["distance_m"]
        return z

    net = load_hf_folder(save_hf_folder(tiny_depth_anything(), tmp_path / "depth" / "tiny-da", 518))

    def known(_module, _inputs, out):
        h, w = out.predicted_depth.shape[-2:]
        out.predicted_depth = (2.5 / scene(h, w) + 0.7).to(out.predicted_depth)[None]
        return out

    net.model.register_forward_hook(known)
    dm, _ = estimate_depth(img, EstimateSettings(refine_edges=False), net)
    fit = dm.meta["calibration"]
    assert not any("assumed" in a for a in fit["anchors"]), fit
    assert len(fit["anchors"]) >= 3
    H, W = dm.metres.shape[1:]
    truth = scene(H, W)
    top = dm.metres[0, : H // 10].median()
    assert float(top) == pytest.approx(float(truth[: H // 10].median()), rel=0.1)  # about 30 m, not 6
