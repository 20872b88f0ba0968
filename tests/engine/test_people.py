"""Every person in the frame, on scenes of known geometry: two copies of one real person pasted at two
scales (so her distances are in the ratio of the scales), each found, each at her own depth, each
blurred by her own circle of confusion; the matte holding every face whole or not at all; InsightFace's
group photo."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.faces.landmarks import Detection, FaceLandmarks
from portraitos.engine.lens import HighlightRebuild, LensSettings, ThinLens, render_lens_bokeh
from portraitos.engine.lens.focus_point import focus_point_mask
from portraitos.engine.people.person import PERSON, Person, person_labels, split_matte
from portraitos.engine.people.person_matte import person_probability, refine_to_image

H, W = 640, 960
NEAR, FAR = 0.9, 0.5  # the two copies' scales: the far one is NEAR / FAR = 1.8 times as far
NEAR_X, FAR_X = 60, 640  # their left edges; both stand on the frame's bottom edge
FOCAL_MM = 85.0
NO_HL = HighlightRebuild(boost=0.0)


def _scaled(t: torch.Tensor, scale: float) -> torch.Tensor:
    side = round(512 * scale)
    return F.interpolate(t.permute(2, 0, 1)[None], size=(side, side), mode="bilinear", antialias=True)[0].permute(
        1, 2, 0
    )


@pytest.fixture(scope="module")
def two_people():
    """The astronaut cut out along her segmentation and pasted twice on a smooth coloured backdrop, at
    scales NEAR (left) and FAR (right); her outline (alpha) in each copy."""
    rgb = torch.from_numpy(data.astronaut()).float() / 255
    alpha = (refine_to_image(person_probability(rgb), rgb, eps=1e-3) > 0.5).float()[..., None]
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    backdrop = torch.stack(
        [
            0.35 + 0.1 * torch.sin(9 * xx) * torch.cos(5 * yy),
            0.45 + 0.1 * torch.sin(7 * yy + 2 * xx),
            0.55 + 0.1 * torch.cos(11 * xx - 3 * yy),
        ],
        -1,
    )
    img = backdrop.clone()
    outlines = []
    for scale, x0 in ((FAR, FAR_X), (NEAR, NEAR_X)):
        p, a = _scaled(rgb, scale), _scaled(alpha, scale)
        s = p.shape[0]
        y0 = H - s
        img[y0:, x0 : x0 + s] = a * p + (1 - a) * img[y0:, x0 : x0 + s]
        outline = torch.zeros(H, W)
        outline[y0:, x0 : x0 + s] = a[..., 0]
        outlines.append(outline > 0.5)
    img = img.clamp(0, 1)[None]
    dm, matte = estimate_depth(img, EstimateSettings(focal_length_mm=FOCAL_MM, background_distance_m=12.0))
    return img, dm, matte, {"far": outlines[0], "near": outlines[1]}


def _erode(mask: torch.Tensor, px: int) -> torch.Tensor:
    return -F.max_pool2d(-mask.float()[None, None], 2 * px + 1, 1, px)[0, 0] > 0.5


def _box(row: dict) -> tuple[slice, slice]:
    x, y, w, h = row["face_box_rel"]
    return slice(round((y + 0.25 * h) * H), round((y + 0.75 * h) * H)), slice(
        round((x + 0.25 * w) * W), round((x + 0.75 * w) * W)
    )


def test_two_people_are_found_at_distances_in_the_ratio_of_their_sizes(two_people):
    _, dm, _, _ = two_people
    people = dm.meta["people"]
    assert dm.meta["people_found"] == dm.meta["faces_found"] == len(people) == 2
    near, far = people
    assert (near["person"], far["person"]) == (1, 2)
    # nearest first: person 1 is the large copy on the left
    assert near["eye_xy"][0][0] < 0.5 < far["eye_xy"][0][0]
    assert far["distance_m"] / near["distance_m"] == pytest.approx(NEAR / FAR, rel=0.10)
    for row in people:
        assert row["distance_from"].split(" ")[0] in ("iris", "interpupillary")
        assert row["matte"] == "in the matte"
    # the single-subject keys are person 1's
    assert dm.meta["eye_xy"] == near["eye_xy"]
    assert dm.meta["subject_distance_m"] == pytest.approx(near["distance_m"], abs=1e-3)
    assert dm.meta["subject_distance_from"] == near["distance_from"]


def test_each_person_stands_at_her_own_distance(two_people):
    _, dm, matte, outlines = two_people
    d = dm.metres[0]
    for row, key in zip(dm.meta["people"], ("near", "far")):
        z = row["distance_m"]
        # her face at her eyes' distance (relief of a few cm), her body on a plane just behind it
        assert float(d[_box(row)].median()) == pytest.approx(z, rel=0.03)
        body = _erode(outlines[key], 6)
        assert float(d[body].median()) == pytest.approx(z + 0.10, rel=0.03)
        assert float((matte[0][body] > 0.5).float().mean()) > 0.97  # whole, in the matte
        # her eyes (where auto focus looks) carry her distance
        for x, y in row["eye_xy"]:
            assert float(d[round(y * (H - 1)), round(x * (W - 1))]) == pytest.approx(z, rel=0.02)
    backdrop = ~(F.max_pool2d((outlines["near"] | outlines["far"]).float()[None, None], 21, 1, 10)[0, 0] > 0)
    assert float(d[backdrop].median()) == pytest.approx(dm.meta["background_distance_m"], rel=1e-3)


def _disc(diameter: float) -> torch.Tensor:
    r = diameter / 2
    n = int(math.ceil(r)) + 1
    yy, xx = torch.meshgrid(torch.arange(-n, n + 1.0), torch.arange(-n, n + 1.0), indexing="ij")
    k = (r + 0.5 - (xx**2 + yy**2).sqrt()).clamp(0, 1)
    return k / k.sum()


def _blur_diameter(sharp: torch.Tensor, blurred: torch.Tensor, region: torch.Tensor, candidates) -> float:
    """The disc diameter (px) that best turns ``sharp [H,W,3]`` into ``blurred`` over ``region``."""
    errs = []
    for c in candidates:
        k = _disc(c)
        pad = k.shape[-1] // 2
        x = F.pad(sharp.permute(2, 0, 1)[:, None], (pad,) * 4, mode="replicate")
        b = F.conv2d(x, k[None, None])[:, 0].permute(1, 2, 0)
        errs.append(float((b - blurred)[region].pow(2).mean()))
    return float(candidates[int(np.argmin(errs))])


def test_lens_bokeh_blurs_the_far_person_by_her_own_circle_of_confusion(two_people):
    img, dm, _, outlines = two_people
    out = render_lens_bokeh(img, dm.metres, LensSettings(FOCAL_MM, 1.8), highlights=NO_HL, depth_meta=dm.meta)
    near, far = dm.meta["people"]
    assert out.focus_how == ["eyes of person 1 of 2 (nearest)"]
    assert out.focus_distance_m[0] == pytest.approx(near["distance_m"], rel=0.01)
    lens = ThinLens(FOCAL_MM, 1.8, out.focus_distance_m[0])
    d = dm.metres[0]
    region = _erode(outlines["far"], 24)  # her inside, beyond the reach of her outline's blur
    expected = float(lens.coc_px(d[region].median(), H, W))
    assert expected > 8  # she really is out of focus: 1.8 times as far as the focus
    sharp, blurred = srgb_to_linear(img[0]), srgb_to_linear(out.image[0])
    got = _blur_diameter(sharp, blurred, region, torch.arange(0.5, 2.0, 0.05) * expected)
    assert got == pytest.approx(expected, rel=0.15), (got, expected)
    # had she stood on person 1's body plane, she would be nearly sharp
    assert float(lens.coc_px(torch.tensor(near["distance_m"] + 0.1), H, W)) < 0.15 * expected
    # person 1's face stays sharp
    face = torch.zeros(H, W, dtype=torch.bool)
    face[_box(near)] = True
    assert float((out.image[0] - img[0])[face].abs().mean()) < 0.01


def test_a_focus_point_on_the_far_person_focuses_on_her(two_people):
    img, dm, _, _ = two_people
    far = dm.meta["people"][1]
    x, y = far["eye_xy"][0]
    mask = focus_point_mask((x, y), H, W)
    out = render_lens_bokeh(img, dm.metres, LensSettings(FOCAL_MM, 1.8), focus_mask=mask, depth_meta=dm.meta)
    assert out.focus_how == ["focus mask (on person 2 of 2)"]
    assert out.focus_distance_m[0] == pytest.approx(far["distance_m"], rel=0.03)


def _fake_person(cx: float, cy: float, size: float, distance_m: float, number: int) -> Person:
    """A person whose face mesh is an ellipse of ``size`` px wide (1.3× as tall) around (cx, cy)."""
    t = torch.linspace(0, 2 * math.pi, 468)
    mesh = torch.stack([cx + size / 2 * torch.cos(t), cy + 0.65 * size * torch.sin(t), torch.zeros(468)], 1)
    det = Detection((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), torch.zeros(6, 2), 1.0)
    face = FaceLandmarks(det, mesh, 1.0, None, None)
    return Person(face, distance_m, "test", number)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 256) -> torch.Tensor:
    """Bool ``[n,n]``: grid cells whose centres lie inside the ellipse (grid units)."""
    c = torch.arange(n) + 0.5
    return ((c[None] - cx) / rx) ** 2 + ((c[:, None] - cy) / ry) ** 2 < 1


def test_a_face_is_in_the_matte_whole_or_not_at_all():
    """On a 256×256 segmentation of a 512×512 frame (2 px a cell): a face half covered is filled in, one
    hardly covered is cut out, a blob above everybody is left out, the body below a face stays."""
    half = _fake_person(100, 120, 80, 2.0, 1)  # grid: centre (50, 60), half axes 20 × 26
    hardly = _fake_person(300, 120, 80, 3.0, 2)  # grid: centre (150, 60)
    whole = _fake_person(400, 300, 60, 2.5, 3)  # grid: centre (200, 150), half axes 15 × 19.5
    prob = torch.zeros(256, 256)
    prob[30:90, 28:50] = 1.0  # the left half of face 1
    prob[92:256, 25:75] = 1.0  # her body
    prob[34:40, 144:156] = 1.0  # a little of face 2's forehead
    prob[125:175, 180:220] = 1.0  # face 3, whole
    prob[0:8, 240:256] = 1.0  # a blob in the top right corner, above and beside everybody
    split = split_matte(prob, [half, hardly, whole], 512, 512)
    p = split.prob
    assert [q.number for q in split.people] == [1, 3]
    assert half.in_matte.startswith("face filled in") and whole.in_matte == "in the matte"
    assert hardly.in_matte.startswith("left out")
    assert bool((p[_ellipse(50, 60, 18, 24)] > PERSON).all())  # face 1 whole: both halves
    assert float(p[_ellipse(150, 60, 20, 26)].max()) == 0.0  # nothing of face 2 left
    assert float(p[0:8, 240:256].max()) == 0.0  # the blob above everybody left out
    assert bool((p[92:256, 25:75] == 1).all()) and bool((p[125:175, 180:220] == 1).all())  # the rest kept
    # the labels, at the image's size: below face 1 hers, at face 3 his
    labels = person_labels(split.people, 512, 512)
    assert labels.dtype == torch.uint8 and int(labels[400, 200]) == 0 and int(labels[300, 400]) == 1


def test_where_two_silhouettes_overlap_the_nearer_person_is_in_front():
    near = _fake_person(200, 200, 100, 2.0, 1)
    far = _fake_person(330, 120, 60, 4.0, 2)
    labels = person_labels([near, far], 600, 600)
    # below the far person's face but inside the near one's shoulders: the near person's
    assert int(labels[400, 300]) == 0
    # the far person's own face and the column under it beyond the near one's shoulders: hers
    assert int(labels[120, 330]) == 1 and int(labels[500, 420]) == 1


def _insightface_image(name: str) -> torch.Tensor:
    import insightface
    from PIL import Image

    path = os.path.join(os.path.dirname(insightface.__file__), "data", "images", name)
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).float()[None] / 255


def test_every_person_of_the_group_photo():
    """InsightFace's t1.jpg: six people around a table, each found, each at her own distance, each
    face whole in the matte."""
    img = _insightface_image("t1.jpg")
    dm, matte = estimate_depth(img, EstimateSettings())
    people = dm.meta["people"]
    assert len(people) == 6
    distances = [p["distance_m"] for p in people]
    assert distances == sorted(distances) and 3.0 < distances[0] and distances[-1] < 9.0
    assert dm.meta["background_distance_m"] > distances[-1]
    h, w = img.shape[1:3]
    for p in people:
        x, y = p["eye_xy"][0]
        assert float(dm.metres[0, round(y * (h - 1)), round(x * (w - 1))]) == pytest.approx(p["distance_m"], rel=0.03)
        bx, by, bw, bh = p["face_box_rel"]
        core = matte[
            0,
            round((by + 0.3 * bh) * h) : round((by + 0.7 * bh) * h),
            round((bx + 0.3 * bw) * w) : round((bx + 0.7 * bw) * w),
        ]
        assert float(core.min()) > 0.5, p  # every face whole in the matte


def test_a_small_person_beside_one_the_whole_frame_finds_is_found_in_the_tiles():
    """A close-up (found on the whole frame, so the tiles run only where the segmentation shows someone
    it does not explain) and a person 2.4 times as far standing beside her, overlapping her arm."""
    from portraitos.engine.faces.landmarks import detect_faces

    rgb = torch.from_numpy(data.astronaut()).float() / 255
    alpha = (refine_to_image(person_probability(rgb), rgb, eps=1e-3) > 0.5).float()[..., None]
    img = torch.full((H, W, 3), 0.45)
    for scale, x0 in ((0.5, 560), (1.2, 20)):  # both standing on the frame's bottom edge
        p, a = _scaled(rgb, scale), _scaled(alpha, scale)
        s = p.shape[0]
        img[H - s :, x0 : x0 + s] = a * p + (1 - a) * img[H - s :, x0 : x0 + s]
    assert len(detect_faces(img)) == 1  # the whole frame sees only the close-up
    dm, _ = estimate_depth(img[None], EstimateSettings(focal_length_mm=FOCAL_MM))
    near, far = dm.meta["people"]
    assert near["eye_xy"][0][0] < far["eye_xy"][0][0]
    assert far["distance_m"] / near["distance_m"] == pytest.approx(1.2 / 0.5, rel=0.10)


def test_a_turned_head_is_not_read_as_farther():
    """The sample's face mesh turned 40° about the vertical (as a head turns): its eyes' spacing in the
    picture shrinks by cos 40°, which the mesh's own depth undoes, so the distance from the pupils stays."""
    from dataclasses import replace

    from portraitos.engine.people.face_finding import find_face
    from portraitos.engine.people.person import measure_distance

    img = torch.from_numpy(data.astronaut()).float() / 255
    face = find_face(img)
    assert face is not None
    frontal = replace(face, irises=None)  # no iris: the pupils' spacing decides
    mesh = frontal.mesh.clone()
    centre = mesh.mean(0)
    turn = math.radians(40)
    x, z = mesh[:, 0] - centre[0], mesh[:, 2] - centre[2]
    mesh[:, 0] = centre[0] + x * math.cos(turn) - z * math.sin(turn)
    mesh[:, 2] = centre[2] + x * math.sin(turn) + z * math.cos(turn)
    turned = replace(frontal, mesh=mesh)
    assert turned.interpupillary_px < 0.85 * frontal.interpupillary_px
    ahead, how_ahead = measure_distance(frontal, 85.0, 512 / 36)
    away, how = measure_distance(turned, 85.0, 512 / 36)
    assert how_ahead.startswith("interpupillary") and "head turned" in how, how
    assert away == pytest.approx(ahead, rel=0.05)
