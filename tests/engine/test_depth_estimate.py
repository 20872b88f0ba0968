"""DepthEstimate: the weight-free portrait prior, real model loading on tiny networks, refinement and
calibration measured against ground truth, bad input."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from skimage import data

from portraitos.engine.depth import (
    EstimateSettings,
    ModelFileError,
    calibrate_disparity,
    estimate_depth,
    joint_bilateral_upsample,
    load_depth_anything_single_file,
    load_hf_folder,
    upsample,
)
from portraitos.testing.tiny_depth_models import (
    save_hf_folder,
    tiny_depth_anything,
    tiny_depth_pro,
    to_original_layout,
)
from portraitos.validation.metrics import edge_error
from portraitos.validation.samples import fill_from_nearest, motorcycle_depth_m

ASTRONAUT = torch.from_numpy(data.astronaut()).float()[None] / 255


@pytest.fixture(scope="module")
def astronaut_prior():
    return estimate_depth(ASTRONAUT, EstimateSettings(background_distance_m=6.0))


def test_prior_puts_the_face_in_front_of_the_background(astronaut_prior):
    dm, matte = astronaut_prior
    d = dm.metres[0]
    assert dm.source == "assumed" and dm.meta["model"].startswith("portrait prior")
    assert dm.meta["faces_found"] >= 1 and len(dm.meta["eye_xy"]) == 2
    face_d = float(d[100:150, 190:260].median())
    bg_d = float(d[20:80, 420:500].median())  # wall behind, upper right
    assert 1.0 < face_d < 3.5, face_d  # a head-and-shoulders portrait at 85 mm: about 2 m
    assert bg_d == pytest.approx(6.0, rel=0.05)
    assert face_d < bg_d


def test_prior_matte_covers_face_and_hair(astronaut_prior):
    _, matte = astronaut_prior
    m = matte[0]
    assert float(m[90:160, 190:260].mean()) > 0.95  # face
    assert float(m[25:60, 170:280].mean()) > 0.8  # hair above the face
    assert float(m[10:60, 400:500].mean()) < 0.05  # background


def test_prior_depth_edges_coincide_with_the_matte_edge(astronaut_prior):
    dm, matte = astronaut_prior
    disp = 1.0 / dm.metres[0]
    g = torch.zeros_like(disp)
    g[:, 1:] = (disp[:, 1:] - disp[:, :-1]).abs()
    g[1:, :] = torch.maximum(g[1:, :], (disp[1:, :] - disp[:-1, :]).abs())
    strong = g > 0.2 * float(g.max())
    m = matte[0]
    edge_band = F.max_pool2d(((m > 0.05) & (m < 0.95)).float()[None, None], 5, 1, 2)[0, 0] > 0
    assert int(strong.sum()) > 100
    assert float(edge_band[strong].float().mean()) > 0.9


def test_refinement_brings_edge_error_down_on_real_ground_truth():
    """Middlebury Motorcycle: degrade the true depth (÷8, blur), then compare plain upsampling with
    guided refinement against the truth near depth edges."""
    left, _, disp = data.stereo_motorcycle()
    z = torch.from_numpy(fill_from_nearest(motorcycle_depth_m(disp)))
    true_disp = 1.0 / z
    H, W = true_disp.shape
    low = F.avg_pool2d(true_disp[None, None], 8)
    low = F.avg_pool2d(F.pad(low, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]
    plain = upsample(low, (H, W))[0]
    guide = torch.from_numpy(left).float()[None] / 255
    refined = joint_bilateral_upsample(low, guide)[0]
    e_plain, e_ref = edge_error(plain, true_disp), edge_error(refined, true_disp)
    mae_plain, mae_ref = float((plain - true_disp).abs().mean()), float((refined - true_disp).abs().mean())
    print(
        f"\nmotorcycle disparity error near depth edges (1/m): bilinear {e_plain:.4f}, refined {e_ref:.4f}; "
        f"whole frame: {mae_plain:.4f} -> {mae_ref:.4f}"
    )
    assert e_ref < 0.88 * e_plain
    assert mae_ref < 0.9 * mae_plain


def test_calibration_recovers_metres_from_affine_disparity():
    _, _, disp = data.stereo_motorcycle()
    z = torch.from_numpy(fill_from_nearest(motorcycle_depth_m(disp)))
    rel = 3.7 / z + 0.42  # what a relative model gives: affine in disparity
    subject = torch.zeros_like(z, dtype=torch.bool)
    subject[200:300, 300:450] = True
    s_true = float(z[subject].median())
    bg = z[~subject].reshape(-1)
    far_true = 1.0 / float(torch.quantile((1.0 / bg)[::7], 0.05))
    depth, fit = calibrate_disparity(rel, subject, s_true, far_true)
    err = ((depth - z).abs() / z).median()
    assert float(err) < 0.01, fit


def test_grey_and_rgba_images_are_accepted_and_tiny_ones_refused():
    grey = ASTRONAUT[..., :1]
    dm, _ = estimate_depth(grey[:, ::4, ::4], EstimateSettings())
    assert dm.metres.shape == (1, 128, 128)
    rgba = torch.cat([ASTRONAUT, torch.ones_like(ASTRONAUT[..., :1])], -1)[:, ::4, ::4]
    assert estimate_depth(rgba, EstimateSettings())[0].metres.shape == (1, 128, 128)
    with pytest.raises(ValueError, match="too small"):
        estimate_depth(torch.rand(1, 16, 16, 3), EstimateSettings())


# --- real model loading on tiny networks ---------------------------------------------------------


def test_depth_anything_folder_and_single_file_give_identical_depth(tmp_path):
    model = tiny_depth_anything()
    folder = save_hf_folder(model, tmp_path / "depth" / "tiny-da-v2", 518)  # the single file runs at 518 too
    single = tmp_path / "depthanything" / "depth_anything_v2_vits_tiny.safetensors"
    single.parent.mkdir(parents=True)
    save_file(to_original_layout(model), str(single))
    a = load_hf_folder(folder)
    b = load_depth_anything_single_file(single)
    img = ASTRONAUT[:, ::4, ::4]
    s = EstimateSettings(subject_distance_m=2.0, background_distance_m=6.0, refine_edges=False)
    da, _ = estimate_depth(img, s, a)
    db, _ = estimate_depth(img, s, b)
    assert da.metres.shape == (1, 128, 128)
    assert torch.allclose(da.metres, db.metres, rtol=1e-4, atol=1e-5)  # the key map is exact
    assert da.source == "calibrated" and bool(torch.isfinite(da.metres).all()) and float(da.metres.min()) > 0


def test_depth_pro_folder_gives_metric_depth(tmp_path):
    folder = save_hf_folder(tiny_depth_pro(), tmp_path / "depth" / "tiny-depth-pro", 256)
    net = load_hf_folder(folder)
    assert net.kind == "depth_pro" and net.metric
    img = ASTRONAUT[:, ::4, ::4]
    dm, matte = estimate_depth(img, EstimateSettings(focal_length_mm=85.0))
    dm1, _ = estimate_depth(img, EstimateSettings(), net)
    dm2, _ = estimate_depth(img, EstimateSettings(), net)
    assert dm1.metres.shape == (1, 128, 128) and dm1.source == "estimated"
    assert torch.equal(dm1.metres, dm2.metres)  # deterministic
    assert "estimated_focal_length_mm" in dm1.meta
    assert bool(torch.isfinite(dm1.metres).all()) and float(dm1.metres.min()) > 0


def test_missing_and_corrupt_model_files_get_clear_errors(tmp_path):
    folder = save_hf_folder(tiny_depth_anything(), tmp_path / "da", 98)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="model.safetensors is missing"):
        load_hf_folder(folder)
    folder2 = save_hf_folder(tiny_depth_anything(), tmp_path / "da2", 98)
    blob = (folder2 / "model.safetensors").read_bytes()
    (folder2 / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFileError, match="could not load"):
        load_hf_folder(folder2)
    bad = tmp_path / "depth_anything_v2_vitb.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_depth_anything_single_file(bad)
    pth = tmp_path / "depth_anything_v2_vitl.pth"
    pth.write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelFileError, match="pickled"):
        load_depth_anything_single_file(pth)


@pytest.mark.parametrize("layout", ["hf_folder", "single_file"])
@pytest.mark.parametrize("kind", ["relative", "metric"])
def test_depth_anything_gives_the_reference_depth_on_this_transformers(tmp_path, layout, kind):
    """The same tiny Depth Anything V2 (weights drawn by NumPy, not by transformers' initialisers) loaded
    from either layout gives the depth stored under transformers 4.5x: on 5.x too (the newest leg)."""
    import numpy as np
    import transformers

    from portraitos.engine.depth import predict
    from portraitos.testing.tiny_depth_models import (
        REFERENCE,
        reference_picture,
        seeded_file_name,
        seeded_original_state,
    )

    ref = np.load(REFERENCE)
    assert str(ref["transformers_version"]).startswith("4."), "the reference must come from transformers 4.x"
    file = tmp_path / seeded_file_name(kind)
    save_file(seeded_original_state(kind), str(file))
    if layout == "hf_folder":
        # a folder as the published "-hf" repositories have it: their tensor names (transformers 4.x's),
        # whatever release reads it
        from portraitos.engine.depth.networks import depth_anything_v2_config_from_state, depth_anything_v2_key_map

        state = seeded_original_state(kind)
        folder = tmp_path / f"tiny-{kind}-hf"
        depth_anything_v2_config_from_state(state, file.name).save_pretrained(folder)
        save_file(depth_anything_v2_key_map(state), str(folder / "model.safetensors"), metadata={"format": "pt"})
        (folder / "preprocessor_config.json").write_text('{"size": {"height": 56, "width": 56}}')
        net = load_hf_folder(folder)
    else:
        net = load_depth_anything_single_file(file)
    net.input_size = 56  # the folder's preprocessor size; single files run at 518 by default
    assert net.metric == (kind == "metric")
    got = predict(net, reference_picture(), torch.device("cpu")).values.numpy()
    want = ref[kind]
    assert got.shape == want.shape
    assert float(want.std()) > 0.05  # a reference that varies over the picture, not a saturated one
    err = float(np.abs(got - want).max())
    assert err < 1e-4 * float(np.abs(want).max()), (transformers.__version__, err)


@pytest.mark.parametrize("h,w,r", [(97, 130, 10), (32, 1500, 15), (301, 145, 23)])
def test_guided_filter_works_on_sizes_the_subsample_does_not_divide(h, w, r):
    """The fast guided filter at sizes not divisible by its subsample (kornia before 0.9 raised there):
    the result has the input's size and follows a step edge of the guide."""
    from portraitos.engine.core.guided_filter import guided_filter

    guide = torch.zeros(1, 3, h, w)
    guide[..., w // 2 :] = 1.0
    src = guide[:, :1].clone() + 0.05 * torch.randn(1, 1, h, w, generator=torch.Generator().manual_seed(0))
    out = guided_filter(guide, src, r, 1e-3, subsample=max(1, r // 4))
    assert out.shape == src.shape and torch.isfinite(out).all()
    assert float(out[..., : w // 2 - r].mean()) < 0.1 < 0.9 < float(out[..., w // 2 + r :].mean())


def test_depth_estimate_on_a_strip():
    dm, matte = estimate_depth(torch.rand(1, 32, 1500, 3), EstimateSettings())
    assert dm.metres.shape == (1, 32, 1500) and torch.isfinite(dm.metres).all()
