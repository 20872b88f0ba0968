"""What artists see in the editor: tooltips on every input and output, names the node search finds,
previews and read-outs on the nodes (in-process and in /history), depth pictures from other packs
made metric, the lens a depth assumed, depth files only in DepthLoad, installed face models only,
progress from the first moment of LensBokeh."""

import pytest
import torch
from skimage import data

from portraitos.engine.depth import ImageDepthSettings, depth_from_picture
from portraitos.engine.lens import LensSettings, lens_mismatch, render_lens_bokeh
from portraitos.testing.editor_expectations import depth_for_lens, disparity_picture, scene_depth


def test_disparity_picture_round_trips_to_metres():
    d = scene_depth()
    pic = disparity_picture(d)
    near, far = float(d.min()), float(d.max())
    for picture in (pic[None], pic[None, ..., None].expand(1, -1, -1, 3)):  # MASK and IMAGE
        settings = ImageDepthSettings(calibration="near/far distances", near_m=near, far_m=far)
        ticks = []
        dm, matte = depth_from_picture(picture, settings, progress=lambda d, t: ticks.append((d, t)))
        assert ticks == [(1, 2), (2, 2)]  # the image calibrated, the matte made
        assert dm.source == "calibrated" and dm.metres.shape == (1, *d.shape)
        assert torch.allclose(dm.metres[0], d, rtol=1e-4)
        assert float(matte[0, 40:70, 50:70].mean()) > 0.9 and float(matte[0, :20, 100:].mean()) < 0.1
    # the other conventions: near = dark, and values proportional to distance
    dark = ImageDepthSettings(near_is_bright=False, calibration="near/far distances", near_m=near, far_m=far)
    assert torch.allclose(depth_from_picture(1.0 - pic[None], dark)[0].metres[0], d, rtol=1e-4)
    lin = (d - near) / (far - near)
    dist = ImageDepthSettings("distance", False, "near/far distances", near, far)
    assert torch.allclose(depth_from_picture(lin[None], dist)[0].metres[0], d, rtol=1e-4)


def test_eight_bit_disparity_picture_stays_within_quantisation():
    d = scene_depth()
    pic8 = torch.round(disparity_picture(d) * 255) / 255
    settings = ImageDepthSettings(calibration="near/far distances", near_m=1.2, far_m=9.0)
    got = depth_from_picture(pic8[None], settings)[0].metres[0]
    # one 8-bit step of disparity between 1/9 and 1/1.2 m⁻¹ is 0.0029 m⁻¹: at 9 m that is ±2.4 %
    assert float(((got - d).abs() / d).max()) < 0.025


def test_face_calibration_places_the_subject_at_the_face_distance():
    """The astronaut photo with a depth picture of a subject plane and a far wall: the subject comes out at
    the distance DepthEstimate's prior finds for the face (its iris), the wall at far_distance_m."""
    from portraitos.engine.depth import EstimateSettings, estimate_depth
    from portraitos.engine.faces.detection import find_faces_scaled

    img = data.astronaut()
    photo = torch.from_numpy(img).float()[None] / 255
    face = find_faces_scaled(img)[0]
    expect = estimate_depth(photo, EstimateSettings(focal_length_mm=85.0))[0].meta["subject_distance_m"]
    truth = torch.full((256, 256), 6.0)
    x, y, w, h = (v // 2 for v in face.box)  # the depth picture is half the photo's size
    truth[max(0, y - h) : y + 2 * h, max(0, x - w // 2) : x + w + w // 2] = expect
    settings = ImageDepthSettings(far_m=6.0)
    dm, _ = depth_from_picture(disparity_picture(truth)[None], settings, photo)
    got = dm.metres[0]
    assert float(got[y + h // 2, x + w // 2]) == pytest.approx(expect, rel=0.02)
    assert float(got[5, 250]) == pytest.approx(6.0, rel=0.05)
    assert dm.meta["focal_length_mm"] == 85.0
    assert dm.meta["subject_distance_from"].startswith(("iris diameter", "interpupillary distance"))
    assert len(dm.meta["eye_xy"]) == 2  # auto focus can use the eyes


def test_lens_mismatch_names_what_differs():
    meta = {"focal_length_mm": 85.0, "sensor": "full frame 36x24"}
    assert lens_mismatch(meta, 85.0, "full frame 36x24") is None
    assert lens_mismatch(meta, 86.0, "full frame 36x24") is None  # within 2 %
    assert lens_mismatch({}, 35.0, "APS-C 23.5x15.6") is None  # measured depth assumes no lens
    msg = lens_mismatch(meta, 35.0, "APS-C 23.5x15.6")
    assert "focal length 85 mm (here 35 mm)" in msg and "sensor full frame 36x24 (here APS-C" in msg


def test_lens_bokeh_ticks_before_rendering_and_ends_full():
    """Ticks come from the pipeline's own steps (depth clean-up, auto focus) and the renderer's set-up
    before its first layer; each is a Cancel point; the bar ends at its maximum."""
    ticks = []
    img = torch.rand(2, 64, 64, 3)
    depth = depth_for_lens().metres[:, :, :48].expand(2, -1, -1)
    render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), progress=lambda d, t: ticks.append((d, t)))
    assert len(ticks) >= 2 + 2 + 2  # pipeline steps, per image: CoCs known and layers assigned
    assert ticks[0][0] == 0 and ticks[-1][0] == ticks[-1][1]
    assert all(b[0] >= a[0] for a, b in zip(ticks, ticks[1:])), "the bar never goes back"

    calls = []

    def cancel():
        calls.append(1)
        raise InterruptedError

    with pytest.raises(InterruptedError):
        render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), check_interrupt=cancel)
    assert len(calls) == 1  # honoured at the first step, before any rendering


def test_depth_estimate_ticks_within_each_image(tmp_path):
    """With a network, DepthEstimate ticks after inference and after each band of the edge-aware
    upsampling (Cancel is honoured there too), not only once per image."""
    from portraitos.engine.depth import EstimateSettings, estimate_depth, load_hf_folder
    from portraitos.testing.tiny_depth_models import save_hf_folder, tiny_depth_anything

    net = load_hf_folder(save_hf_folder(tiny_depth_anything(), tmp_path / "tiny-da", 518))
    photo = torch.from_numpy(data.astronaut()).float()[None] / 255  # 512²: two bands of 256 rows
    ticks = []
    estimate_depth(photo, EstimateSettings(), net, progress=lambda d, t: ticks.append((d, t)))
    assert len(ticks) >= 1 + 2 + 1, ticks  # inference, two bands, done
    assert ticks[-1][0] == ticks[-1][1] and all(b[0] >= a[0] for a, b in zip(ticks, ticks[1:]))
    calls = []

    def cancel_in_second_band():
        calls.append(1)
        if len(calls) == 3:  # loop start, after inference, after the first band
            raise InterruptedError

    with pytest.raises(InterruptedError):
        estimate_depth(photo, EstimateSettings(), net, check_interrupt=cancel_in_second_band)
