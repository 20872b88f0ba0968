"""IdentityLoader's engine: InsightFace's real loading and inference on small ONNX models built here,
the identity file format, hostile names, corrupt files, and loading without InsightFace."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from portraitos.engine.faces import FaceError, analyse, load_pack, pack_problem
from portraitos.engine.identity import (
    IdentityError,
    build_identity,
    identity_path,
    list_identities,
    load_identity,
    merge,
    normalise,
    sanitize_name,
    save_identity,
)
from portraitos.testing.tiny_face_models import ASTRONAUT_BOX, ASTRONAUT_KPS, build_pack

REPO = Path(__file__).resolve().parents[2]


ASTRONAUT = data.astronaut()


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("insightface")
    build_pack(root)
    return load_pack(root, "tinypack", "CPU")


def test_detection_alignment_embedding_through_insightface(pack):
    rec, warnings, faces = analyse(pack, ASTRONAUT)
    assert len(faces) == 1 and not any("faces found" in w for w in warnings)
    assert np.allclose(rec["bbox"], ASTRONAUT_BOX, atol=0.5)
    assert np.allclose(rec["kps"], ASTRONAUT_KPS, atol=0.5)
    assert rec["crop_112"].shape == (112, 112, 3) and rec["crop_224"].shape == (224, 224, 3)
    # the embedding is the recognition model applied to the aligned crop (InsightFace's own alignment)
    import onnxruntime

    rec_model = pack.app.models["recognition"]
    sess = onnxruntime.InferenceSession(rec_model.model_file, providers=["CPUExecutionProvider"])
    blob = ((rec["crop_112"].astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    direct = sess.run(None, {sess.get_inputs()[0].name: blob})[0][0]
    assert np.allclose(rec["embedding"], direct, rtol=1e-4, atol=1e-4)
    # the eyes of the aligned crop sit where ArcFace's template puts them
    from insightface.utils.face_align import arcface_dst

    assert arcface_dst[0][0] < 56 < arcface_dst[1][0]


def test_create_save_load_round_trips_exactly(pack, tmp_path):
    rec, warnings, _ = analyse(pack, ASTRONAUT)
    ident = build_identity("astronaut", [rec], "tinypack", warnings)
    path = save_identity(ident, tmp_path, overwrite=False)
    assert path.name == "astronaut.safetensors"
    back = load_identity(path)
    assert set(back.tensors) == set(ident.tensors)
    for k, v in ident.tensors.items():
        assert torch.equal(back.tensors[k], v), k
    assert back.meta["model_pack"] == "tinypack" and back.meta["source_sha256"] == ident.meta["source_sha256"]
    assert back.tensors["embedding"].norm().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(IdentityError, match="already exists"):
        save_identity(ident, tmp_path, overwrite=False)
    assert list_identities(tmp_path) == ["astronaut"]


def test_batch_averages_normalised_embeddings_and_update_merges(pack, tmp_path):
    other = ASTRONAUT.copy()
    other[..., 0] = 255 - other[..., 0]  # same geometry (the detector is fixed), different colours
    r1, _, _ = analyse(pack, ASTRONAUT)
    r2, _, _ = analyse(pack, other)
    both = build_identity("pair", [r1, r2], "tinypack", [])
    e1, e2 = normalise(torch.from_numpy(r1["embedding"])), normalise(torch.from_numpy(r2["embedding"]))
    assert float((e1 - e2).norm()) > 0.1
    assert torch.allclose(both.embedding, normalise((e1 + e2) / 2), atol=1e-6)
    one = build_identity("pair", [r1], "tinypack", [])
    save_identity(one, tmp_path, overwrite=False)
    merged = merge(load_identity(identity_path(tmp_path, "pair")), build_identity("pair", [r2], "tinypack", []))
    assert merged.count == 2 and torch.allclose(merged.embedding, both.embedding, atol=1e-6)


def test_no_face_and_missing_pack_get_actionable_errors(pack, tmp_path):
    with pytest.raises(FaceError, match="no face found.*good selfie"):
        analyse(pack, np.zeros_like(ASTRONAUT))
    msg = pack_problem(tmp_path, "antelopev2")
    assert "antelopev2" in msg and str(tmp_path / "models" / "antelopev2") in msg and ".onnx" in msg
    nested = tmp_path / "models" / "antelopev2" / "antelopev2"
    nested.mkdir(parents=True)
    (nested / "glintr100.onnx").write_bytes(b"x")
    assert "nested folder" in pack_problem(tmp_path, "antelopev2")
    with pytest.raises(FaceError, match="nested folder"):
        load_pack(tmp_path, "antelopev2")


@pytest.mark.parametrize(
    "bad", ["../x", "/etc/passwd", "", "   ", "a" * 200, "名前", "a/b", "..", "x\x00y", "C:\\temp\\x", ".hidden"]
)
def test_hostile_names_are_rejected(bad, tmp_path):
    with pytest.raises(IdentityError):
        identity_path(tmp_path, bad)
    assert sanitize_name("Anna-Maria_2.0") == "Anna-Maria_2.0"


@pytest.mark.parametrize("reserved", ["con", "NUL", "aux.txt", "Com1", "lpt9.backup", "CONOUT$", "prn "])
def test_names_windows_reserves_are_refused_with_the_reason(reserved, tmp_path):
    with pytest.raises(IdentityError, match="device name on Windows|ends with a dot or a space|not allowed"):
        identity_path(tmp_path, reserved)


@pytest.mark.parametrize("bad", ["anna.", "anna. ", "x.."])
def test_names_with_a_trailing_dot_are_refused(bad, tmp_path):
    with pytest.raises(IdentityError):
        identity_path(tmp_path, bad)


def test_names_near_reserved_ones_are_fine(tmp_path):
    for name in ("console", "nulla", "aux2", "com10", "Connie"):
        assert sanitize_name(name) == name


def test_corrupt_truncated_and_foreign_files_are_rejected(pack, tmp_path):
    from safetensors.torch import save_file

    rec, _, _ = analyse(pack, ASTRONAUT)
    good = save_identity(build_identity("good", [rec], "tinypack", []), tmp_path, overwrite=False)
    blob = good.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 64)
    save_file({"x": torch.zeros(3)}, str(tmp_path / "foreign.safetensors"), metadata={"format": "something"})
    t = load_identity(good).tensors
    t["embedding"] = torch.full((512,), float("nan"))
    save_file(t, str(tmp_path / "nan.safetensors"), metadata={"format": "portraitos.identity", "schema_version": "1"})
    t = dict(load_identity(good).tensors)
    t["kps"] = torch.zeros(1, 4, 2)
    save_file(t, str(tmp_path / "shape.safetensors"), metadata={"format": "portraitos.identity", "schema_version": "1"})
    for name, pattern in (
        ("truncated", "corrupt or truncated"),
        ("garbage", "corrupt or truncated"),
        ("foreign", "not a PortraitOS identity"),
        ("nan", "NaN"),
        ("shape", "shape"),
    ):
        with pytest.raises(IdentityError, match=pattern) as e:
            load_identity(tmp_path / f"{name}.safetensors")
        assert f"{name}.safetensors" in str(e.value)


def test_load_by_name_without_insightface(pack, tmp_path):
    rec, _, _ = analyse(pack, ASTRONAUT)
    save_identity(build_identity("solo", [rec], "tinypack", []), tmp_path, overwrite=False)
    code = f"""
import sys, time
sys.modules['insightface'] = None      # make any import of InsightFace fail
sys.modules['onnxruntime'] = None
from portraitos.engine.identity import identity_path, load_identity
ident = load_identity(identity_path({str(tmp_path)!r}, 'solo'))
print(ident.embedding.shape[0], ident.count)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["512", "1"]


def test_an_update_keeps_the_version_before_and_restore_swaps_it_back(pack, tmp_path, monkeypatch):
    from portraitos.engine.identity import file_format, restore_previous

    r1, _, _ = analyse(pack, ASTRONAUT)
    other = ASTRONAUT.copy()
    other[..., 1] = 255 - other[..., 1]
    r2, _, _ = analyse(pack, other)
    first = build_identity("kept", [r1], "tinypack", [])
    path = save_identity(first, tmp_path, overwrite=False)
    with pytest.raises(IdentityError, match="no earlier version"):
        restore_previous(tmp_path, "kept")
    synced = []
    real_fsync = file_format.os.fsync
    monkeypatch.setattr(file_format.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    updated = merge(load_identity(path), build_identity("kept", [r2], "tinypack", []))
    save_identity(updated, tmp_path, overwrite=True)
    assert len(synced) >= 4  # the new file, the kept copy, and the folder after each rename
    assert load_identity(path).count == 2
    prev = file_format.previous_path(path)
    assert prev.is_file() and load_identity(prev).count == 1
    assert list_identities(tmp_path) == ["kept"]  # the kept version is not listed as an identity
    restore_previous(tmp_path, "kept")
    assert load_identity(path).count == 1 and torch.equal(load_identity(path).embedding, first.embedding)
    restore_previous(tmp_path, "kept")  # again: undoes the restore
    assert load_identity(path).count == 2
    assert not list(tmp_path.glob("*tmp"))  # no temporary left behind
    prev.write_bytes(prev.read_bytes()[:100])  # a damaged kept copy is refused, the identity untouched
    with pytest.raises(IdentityError):
        restore_previous(tmp_path, "kept")
    assert load_identity(path).count == 2


def test_ranking_puts_missing_faces_last_and_marks_failures():
    from portraitos.engine.identity.scoring import rank

    r = rank(torch.tensor([0.2, float("nan"), 0.7, 0.7, 0.45]), threshold=0.4)
    assert r.order.tolist() == [2, 3, 4, 0, 1]  # best first, ties in batch order, no face last
    assert r.failed.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert r.lines == ["#3: 0.700", "#4: 0.700", "#5: 0.450", "#1: 0.200 (failed)", "#2: no face (failed)"]


def test_scores_follow_the_largest_face(pack):
    from portraitos.engine.identity.scoring import score_images

    rec, _, _ = analyse(pack, ASTRONAUT)
    ident = build_identity("solo", [rec], "tinypack", [])
    images = torch.from_numpy(np.stack([ASTRONAUT, np.zeros_like(ASTRONAUT)])).float() / 255
    scores = score_images(pack, ident, images)
    assert abs(float(scores[0]) - 1.0) < 1e-3 and torch.isnan(scores[1])
