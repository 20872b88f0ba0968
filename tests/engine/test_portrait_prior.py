"""The weight-free portrait prior on scenes of known geometry: distance from the iris, a person
matte that leaves objects behind the person out, face relief from the mesh, fall-backs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.faces.distance import distance_from_eyes
from portraitos.engine.lens.optics import ThinLens
from portraitos.engine.people.subject_matte import solid_part
from portraitos.validation.reference import card, pattern_texture, render_pinhole, shape_texture, to_photo

MM_PER_PX = 1.5  # the astronaut's 7.8-px iris becomes 11.7 mm
SUBJECT_M = 1.5
H, W = 600, 400


def astronaut_card():
    rgb = torch.from_numpy(data.astronaut()).float() / 255
    lin = srgb_to_linear(rgb).permute(2, 0, 1)[None].double()
    x0, y0 = -225 * MM_PER_PX, -230 * MM_PER_PX

    def tex(x, y):
        u, v = (x - x0) / MM_PER_PX, (y - y0) / MM_PER_PX
        grid = torch.stack([u / 256 - 1, v / 256 - 1], -1).reshape(1, 1, -1, 2)
        s = F.grid_sample(lin, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
        # the card is cut along her left shoulder line so that what is behind shows beside her
        inside = (u < 330) | (v > 330)
        return s.T.reshape(*x.shape, 3), inside.to(x.dtype)

    return tex


@pytest.fixture(scope="module")
def card_scene():
    """Astronaut card at 1.5 m (85 mm, full frame), a red disc at 3 m beside and behind her, wall at 6 m."""
    red = shape_texture(
        pattern_texture(20.0, (1.0, 0.1, 0.05), 0.4), lambda x, y: (x - 230) ** 2 + (y + 60) ** 2 < 160**2
    )
    wall = card(6.0, pattern_texture(70.0, (0.7, 0.8, 1.0), 0.6))
    lens = ThinLens(85.0, 8.0, SUBJECT_M)
    lin, depth = render_pinhole([wall, card(3.0, red), card(SUBJECT_M, astronaut_card())], lens, H, W, pixel_samples=2)
    img = to_photo(lin)[None]
    dm, matte = estimate_depth(img, EstimateSettings(focal_length_mm=85.0, background_distance_m=6.0))
    return img, depth, dm, matte


def test_subject_distance_from_the_iris_at_a_known_distance(card_scene):
    _, _, dm, _ = card_scene
    assert dm.meta["subject_distance_from"].startswith("iris diameter 11.7 mm")
    assert dm.meta["subject_distance_m"] == pytest.approx(SUBJECT_M, rel=0.06)
    # the eyes (where auto focus looks) carry that distance in the depth map
    x, y = dm.meta["eye_xy"][0]
    d = float(dm.metres[0, round(y * (H - 1)), round(x * (W - 1))])
    assert d == pytest.approx(dm.meta["subject_distance_m"], rel=0.01)


def test_objects_behind_the_person_stay_out_of_the_matte(card_scene):
    _, depth, dm, matte = card_scene
    red_visible = (depth - 3.0).abs() < 1e-3
    assert int(red_visible.sum()) > 2000  # the disc shows beside her
    # away from her outline (4 px), the red disc is background in the matte and in the depth
    person = depth < SUBJECT_M + 0.01
    near_person = F.max_pool2d(person.float()[None, None], 9, 1, 4)[0, 0] > 0
    far_red = red_visible & ~near_person
    assert float(matte[0][far_red].mean()) < 0.05
    assert float(dm.metres[0][far_red].median()) > 4.0
    # and she is in it: her face and the shoulder below it
    for x, y in dm.meta["eye_xy"]:
        px, py = round(x * (W - 1)), round(y * (H - 1))
        assert float(matte[0, py - 10 : py + 10, px - 10 : px + 10].min()) > 0.9
        assert float(matte[0, py + 150 : py + 170, px - 10 : px + 10].min()) > 0.9


def test_face_relief_follows_the_mesh():
    from portraitos.engine.faces.landmarks import face_landmarks

    img = torch.from_numpy(data.astronaut()).float() / 255
    dm, _ = estimate_depth(img[None], EstimateSettings())
    face = face_landmarks(img)
    d = dm.metres[0]

    def at(i):
        x, y = face.mesh[i, :2].tolist()
        return float(d[int(y), int(x)])

    nose, eye_l, eye_r, cheek_l, cheek_r = at(1), at(33), at(263), at(234), at(454)
    assert nose < min(eye_l, eye_r) < max(eye_l, eye_r) < min(cheek_l, cheek_r)
    assert 0.01 < min(cheek_l, cheek_r) - nose < 0.2  # centimetres, not metres


def test_distance_falls_back_from_iris_to_pupils():
    ppm = 1000 / 36  # 1000 px across a 36 mm sensor
    z, how = distance_from_eyes(20.0, 108.0, 85.0, ppm)
    assert how.startswith("iris") and z == pytest.approx((85 + 85 * ppm * 11.7 / 20) / 1000)
    # an iris a third of the pupils' spacing is a misplaced iris: the interpupillary distance decides
    z, how = distance_from_eyes(36.0, 108.0, 85.0, ppm)
    assert how.startswith("interpupillary") and z == pytest.approx((85 + 85 * ppm * 63 / 108) / 1000)
    assert distance_from_eyes(None, 108.0, 85.0, ppm)[1].startswith("interpupillary")
    assert distance_from_eyes(None, None, 85.0, ppm) is None


def test_without_a_person_the_prior_falls_back_and_says_so():
    left, _, _ = data.stereo_motorcycle()
    img = torch.from_numpy(left).float()[None] / 255
    dm, matte = estimate_depth(img, EstimateSettings())
    assert dm.meta["subject_distance_from"].startswith("no face found")
    assert dm.meta["matte"].startswith("GrabCut")
    assert matte.shape == img.shape[:3] and bool(torch.isfinite(dm.metres).all())


def test_a_networks_soft_edge_takes_the_mattes_edge():
    from portraitos.engine.depth.matte import snap_depth_to_matte

    # a person at 2 m on a 6 m background, the network's depth smeared across her outline (8 px)
    H = W = 200
    truth = torch.full((H, W), 6.0)
    truth[:, :100] = 2.0
    disp = 1 / truth
    soft = F.avg_pool2d(F.pad(disp[None, None], (8, 8, 8, 8), mode="replicate"), 17, stride=1)[0, 0]
    matte = (torch.arange(W) < 100).float().expand(H, W)
    out = snap_depth_to_matte(1 / soft, matte, band_px=10)
    assert float((1 / soft - truth).abs()[:, 92:108].max()) > 1.0  # the smear
    assert torch.allclose(out[:, 90:110], truth[:, 90:110], rtol=1e-3)  # gone, on both sides
    assert torch.equal(out[:, :80], (1 / soft)[:, :80])  # untouched away from the outline


def test_slivers_in_the_solid_matte_are_closed_except_around_the_heads():
    """A two-pixel sliver of background inside the matte (the guided filter along a bright metal edge)
    takes the people's depth; the same sliver where the hair is matted stays (a light beside the hair
    must not join her), and the background beside the matte stays background."""
    matte = torch.zeros(200, 300)
    matte[40:, 60:240] = 1.0
    matte[120:180, 100:102] = 0.0  # a sliver in the body
    matte[50:90, 150:152] = 0.0  # a sliver where the head is
    heads = torch.zeros(200, 300, dtype=torch.bool)
    heads[30:100, 120:180] = True
    solid = solid_part(matte, heads)
    assert bool(solid[120:180, 100:102].all())
    assert not bool(solid[50:90, 150:152].any())
    assert not bool(solid[:, :55].any()) and not bool(solid[:35].any())
    assert bool(solid_part(matte)[50:90, 150:152].all())  # with no heads known, closed everywhere
