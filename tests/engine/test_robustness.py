"""Bad input at the engine level: hostile names, extreme lenses, bit-exact focus, alpha, batches, black images,
cancelling within an image."""

import math
import warnings

import numpy as np
import pytest
import torch

from portraitos.engine.core.batch import common_batch
from portraitos.engine.core.safe_paths import PathNotFoundError, UnsafePathError, resolve_inside
from portraitos.engine.depth import DepthFileError, EstimateSettings, estimate_depth, read_depth_file
from portraitos.engine.depth.files import resolve_inside as resolve_depth_file
from portraitos.engine.lens import LensSettings, ThinLens, render_lens_bokeh
from portraitos.engine.lens.pipeline import cap_circles_of_confusion, coc_cap_px
from portraitos.engine.lighting import LightingParams, relight


def test_names_never_climb_out_of_their_folders_and_links_are_followed(tmp_path):
    """ComfyUI's rule for model files: a relative name without '..' names something in a folder; what
    the folder holds there is used, a link wherever it leads (as ComfyUI's listings and loaders do)."""
    a, b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "outside"
    for d in (a, b, outside):
        d.mkdir()
    (outside / "secret").mkdir()
    (outside / "secret" / "config.json").write_text("{}")
    (b / "model").mkdir()
    (a / "elsewhere").symlink_to(outside / "secret")  # a link the user put into the models folder
    (a / "to_b").symlink_to(b / "model")
    assert resolve_inside([a, b], "model", kind="dir") == (b / "model").resolve()
    assert resolve_inside([a, b], "to_b", kind="dir") == (b / "model").resolve()
    assert resolve_inside([a, b], "elsewhere", kind="dir") == (outside / "secret").resolve()
    assert resolve_inside([a, b], "elsewhere/config.json") == (outside / "secret" / "config.json").resolve()
    for name in (
        "/abs/path",
        "//abs/path",
        "../outside/secret",
        "sub/../../outside",
        "..",
        "..\\outside",
        "C:\\Windows",
        "\\\\server\\share",
        "x\x00y",
        "",
        "elsewhere/../../outside",
    ):
        with pytest.raises(UnsafePathError):
            resolve_inside([a, b], name, kind="any")
    with pytest.raises(PathNotFoundError):
        resolve_inside([a, b], "missing")
    with pytest.raises(PathNotFoundError):
        resolve_inside([a, b], "model", kind="file")  # a folder where a file is wanted


def test_random_bytes_npy_is_not_called_a_pickle(tmp_path):
    (tmp_path / "noise.npy").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DepthFileError) as e:
        read_depth_file(tmp_path / "noise.npy")
    assert "not an .npy array" in str(e.value) and "pickle" not in str(e.value)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DepthFileError, match="pickled"):
        read_depth_file(tmp_path / "objects.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(DepthFileError, match="empty file"):
        read_depth_file(tmp_path / "empty.npy")
    with pytest.raises(DepthFileError, match="not found"):
        resolve_depth_file(tmp_path, "absent.npy")


def test_batch_messages_name_both_inputs():
    assert common_batch(image=1, depth=3, focus_mask=None) == 3
    with pytest.raises(ValueError) as e:
        common_batch(image=2, depth=3)
    assert str(e.value).startswith("image has a batch of 2 but depth has 3")
    with pytest.raises(ValueError, match="image has a batch of 2 but depth has 3"):
        render_lens_bokeh(torch.rand(2, 32, 32, 3), torch.full((3, 32, 32), 3.0), LensSettings(85, 1.8, 2.0))
    with pytest.raises(ValueError, match="subject_mask has a batch of 3 but image has 4"):
        relight(torch.rand(4, 16, 16, 3), LightingParams(), subject_mask=torch.ones(3, 16, 16))


@pytest.mark.parametrize("f, n, s", [(396.0, 0.7, 0.40), (85.0, 1.8, 0.0851), (400.0, 0.7, 0.401)])
def test_extreme_lens_renders_a_frame_sized_blur_with_a_warning(f, n, s):
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 96, 128, 3, generator=g)
    depth = torch.full((1, 96, 128), 1.5)
    depth[:, 48:] = 5.0
    with pytest.warns(RuntimeWarning, match=f"focal_length_mm {f:g}, f_number {n:g}, focus_distance_m {s:g}"):
        r = render_lens_bokeh(img, depth, LensSettings(f, n, s))
    lens = ThinLens(f, n, s)
    true_coc = lens.coc_px(depth[0], 96, 128)
    assert float(true_coc.abs().max()) > 1e4  # the lens really asks for an enormous blur
    assert torch.allclose(r.coc_px[0], true_coc)  # and the CoC output says so
    out = r.image[0]
    assert bool(torch.isfinite(out).all()) and float(out.mean()) > 0.3  # never black
    assert float(out.std(dim=(0, 1)).max()) < 0.03  # everything spread over the whole frame


def test_capping_keeps_sign_and_order_and_only_touches_huge_blurs():
    lens = ThinLens(400.0, 0.7, 0.401)
    depth = torch.tensor([[0.402, 0.5, 1.0, 3.0, 100.0, 0.4015]])
    with pytest.warns(RuntimeWarning, match="frame-sized blur"):
        capped, was = cap_circles_of_confusion(depth[None], [lens], 64, 64)
    assert was
    c = lens.coc_px(capped[0], 64, 64)
    cap = coc_cap_px(64, 64)
    assert float(c.abs().max()) <= cap * 1.001
    assert torch.equal(torch.sign(c), torch.sign(lens.coc_px(depth, 64, 64)))
    assert bool((c[0, :5].diff() >= 0).all())  # farther never renders with less blur
    ordinary = ThinLens(85, 1.8, 2.0)
    d = torch.full((1, 64, 64), 3.0)
    same, was = cap_circles_of_confusion(d, [ordinary], 64, 64)
    assert not was and torch.equal(same, d)


def test_in_focus_pixels_are_bit_exact_for_every_8bit_value():
    H, W = 64, 64
    v = torch.arange(256, dtype=torch.float32) / 255
    idx = torch.arange(H * W).view(H, W) % 256
    img = torch.stack([v[idx], v[(idx * 7 + 3) % 256], v[255 - idx]], -1)[None]
    img[0, :8, :8] = 1.0  # pure white patch
    depth = torch.full((1, H, W), 2.0)
    depth[0, :, 40:] = 8.0  # blurred background beside the sharp subject
    r = render_lens_bokeh(img, depth, LensSettings(85, 1.8, 2.0))
    sharp = r.coc_px[0].abs() < 0.5
    assert int(sharp.sum()) == H * 40
    assert torch.equal(r.image[0][sharp], img[0][sharp])
    u8 = (r.image[0] * 255).round().to(torch.uint8)
    assert bool((u8[:8, :8] == 255).all())
    seen = set(u8[sharp].reshape(-1).tolist())
    assert seen == set(range(256))  # every 8-bit value went through unchanged
    assert float((r.image[0, :, 44:] - img[0, :, 44:]).abs().mean()) > 0.05  # the background was blurred


def test_foreground_blur_still_spreads_over_the_sharp_subject():
    h, w = 120, 180
    img = torch.full((1, h, w, 3), 0.5)
    depth = torch.full((1, h, w), 2.0)
    img[0, :, 80:95] = torch.tensor([1.0, 0.0, 0.0])  # a red pole near the lens
    depth[0, :, 80:95] = 0.8
    r = render_lens_bokeh(img, depth, LensSettings(85, 1.4, 2.0), highlights=_no_highlights())
    r_fg = abs(float(r.coc_px[0, 60, 88])) / 2
    col = r.image[0, 60, int(95 + r_fg * 0.4)]
    assert float(r.coc_px[0, 60, int(95 + r_fg * 0.4)]) == pytest.approx(0.0, abs=1e-3)
    assert float(col[0] - col[1]) > 0.05  # red light over the in-focus subject is kept
    far = r.image[0, 60, 170]
    assert torch.equal(far, img[0, 60, 170])  # beyond the pole's reach the subject is bit-exact


def _no_highlights():
    from portraitos.engine.lens import HighlightRebuild

    return HighlightRebuild(threshold=1.0, boost=0.0)


def test_alpha_passes_through_lens_and_lighting():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 48, 64, 4, generator=g)
    depth = torch.full((1, 48, 64), 2.0)
    depth[:, :, 32:] = 9.0
    r = render_lens_bokeh(img, depth, LensSettings(85, 1.4, 2.0))
    assert r.image.shape == (1, 48, 64, 4) and torch.equal(r.image[..., 3], img[..., 3])
    out, _ = relight(img, LightingParams("warm cinematic"))
    assert out.shape == img.shape and torch.equal(out[..., 3], img[..., 3])
    out, _ = relight(img, LightingParams("auto"))
    assert torch.equal(out, img)


def test_key_strength_works_with_a_subject_mask():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(1, 48, 48, 3, generator=g) * 0.5 + 0.25
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 48), torch.linspace(-1, 1, 48), indexing="ij")
    depth = (2.0 + 0.3 * (xx**2 + yy**2)).unsqueeze(0)  # a curved subject
    mask = torch.ones(1, 48, 48)
    off, _ = relight(img, LightingParams(key_strength=0.0, key_direction_deg=0.0), depth, mask)
    on, _ = relight(img, LightingParams(key_strength=1.0, key_direction_deg=0.0), depth, mask)
    assert float((on - off).abs().max()) > 0.05
    with pytest.warns(RuntimeWarning, match="key_strength 1 has no effect without depth"):
        relight(img, LightingParams(key_strength=1.0), None, mask)


def test_auto_lighting_on_a_black_image():
    black = torch.zeros(1, 32, 32, 3)
    with pytest.warns(RuntimeWarning, match="black"):
        out, setup = relight(black, LightingParams("auto"))
    assert torch.equal(out, black) and math.isfinite(setup.key_cct_k)


def test_depth_estimate_checks_for_cancel_within_an_image():
    from skimage import data

    img = torch.from_numpy(data.astronaut()[::2, ::2].copy()).float()[None] / 255
    calls, progress = [], []

    class Cancelled(Exception):
        pass

    def check():
        calls.append(1)
        if len(calls) == 6:
            raise Cancelled

    with pytest.raises(Cancelled):
        estimate_depth(img, EstimateSettings(), check_interrupt=check, progress=lambda d, t: progress.append((d, t)))
    assert progress and all(0 < d < t for d, t in progress)  # reported within the one image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progress.clear()
        estimate_depth(img, EstimateSettings(), check_interrupt=lambda: None, progress=lambda d, t: progress.append(d))
    assert len(set(progress)) >= 8 and progress == sorted(progress)


def test_extreme_lens_advice_follows_the_side_of_focus_the_blur_is_on():
    img = torch.rand(1, 96, 128, 3, generator=torch.Generator().manual_seed(0))
    near = torch.full((1, 96, 128), 1.5)  # focused at 1000 m, the subject at 1.5 m: focus nearer
    with pytest.warns(RuntimeWarning, match=r"Focus nearer \(on the nearest things\)"):
        render_lens_bokeh(img, near, LensSettings(400.0, 0.7, 1000.0))
    far = torch.full((1, 96, 128), 5.0)  # focused at 0.401 m, everything at 5 m: focus farther away
    with pytest.warns(RuntimeWarning, match="Focus farther away"):
        render_lens_bokeh(img, far, LensSettings(400.0, 0.7, 0.401))
