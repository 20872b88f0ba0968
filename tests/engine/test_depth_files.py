"""Depth files DepthLoad reads: .npy, OpenEXR and 16-bit PNG, and the ones it refuses."""

import numpy as np
import pytest
import torch
from PIL import Image

from portraitos.engine.depth import DepthFileError, clean_depth, read_depth_file
from portraitos.engine.depth.files import resolve_inside


def _depth():
    d = np.full((20, 30), 4.0, np.float32)
    d[5:15, 10:20] = 1.25
    return d


def test_npy_exr_and_png16_give_the_same_metres(tmp_path):
    import OpenEXR

    d = _depth()
    np.save(tmp_path / "d.npy", d)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Z": d}) as f:
        f.write(str(tmp_path / "d.exr"))
    Image.fromarray((d * 1000).astype(np.uint16)).save(tmp_path / "d_mm.png")  # millimetres, 16 bit
    a = read_depth_file(tmp_path / "d.npy")
    b = read_depth_file(tmp_path / "d.exr")
    c = read_depth_file(tmp_path / "d_mm.png", scale=0.001)
    for t in (a, b, c):
        assert t.shape == (20, 30) and t.dtype == torch.float32
        assert torch.allclose(t, torch.from_numpy(d), atol=1e-3)


def test_bad_depth_files_are_refused_with_reasons(tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((4, 5, 3), np.float32))
    with pytest.raises(DepthFileError, match="single-channel"):
        read_depth_file(tmp_path / "rgb.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DepthFileError, match="pickled .npy files are refused"):
        read_depth_file(tmp_path / "obj.npy")
    (tmp_path / "trunc.npy").write_bytes(np.lib.format.magic(1, 0) + b"\x10\x00{'descr'")
    with pytest.raises(DepthFileError, match="cannot read"):
        read_depth_file(tmp_path / "trunc.npy")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "eight.png")
    with pytest.raises(DepthFileError, match="8-bit"):
        read_depth_file(tmp_path / "eight.png")
    (tmp_path / "x.tif").write_bytes(b"II*\x00")
    with pytest.raises(DepthFileError, match="unsupported"):
        read_depth_file(tmp_path / "x.tif")
    with pytest.raises(DepthFileError, match="scale"):
        read_depth_file(tmp_path / "rgb.npy", scale=-1)


def test_hostile_paths_never_leave_the_input_folder(tmp_path):
    inside = tmp_path / "input"
    inside.mkdir()
    (tmp_path / "secret.npy").write_bytes(b"")
    (inside / "link.npy").symlink_to(tmp_path / "secret.npy")
    for name in ("../secret.npy", "/etc/passwd", "..\\secret.npy", "sub/../../secret.npy", ""):
        with pytest.raises(DepthFileError):
            resolve_inside(inside, name)
    assert resolve_inside(inside, "link.npy") == (tmp_path / "secret.npy").resolve()  # a link is followed


def test_nan_and_non_positive_depth_are_cleaned_with_a_warning():
    d = torch.from_numpy(_depth())
    d[0, 0] = float("nan")
    d[1, 1] = -2.0
    d[2, 2] = float("inf")
    with pytest.warns(RuntimeWarning, match="1 NaN, 1 infinite and 1 zero/negative"):
        out = clean_depth(d)
    assert bool(torch.isfinite(out).all()) and float(out.min()) > 0
    assert float(out[2, 2]) > float(d[torch.isfinite(d)].max())  # +inf stays the farthest
