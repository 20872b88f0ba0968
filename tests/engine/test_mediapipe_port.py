"""The MediaPipe models run in torch (engine/mediapipe) against the reference TFLite runtime, and the
face/iris/matte pipeline built on them, on real photos.

Reference outputs: ``tests/data/mediapipe_reference.npz``, made by ``tools/mediapipe_reference.py``
with ai-edge-litert 2.3.0 (the TFLite runtime is not a dependency of the pack) from the model inputs
the pack's pre-processing makes from skimage's astronaut and InsightFace's sample photos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from portraitos.engine.mediapipe import NAMES, GraphFileError, get_model, load_graph, model_path

DATA = Path(__file__).resolve().parents[1] / "data" / "mediapipe_reference.npz"
# stated tolerances: absolute, in the outputs' own units (crop pixels for landmarks, logits for scores,
# probability for the matte). fp32 here vs fp32/XNNPACK there: differences are rounding only.
TOLERANCE = {
    "activation_10": 1e-3,  # person probability 0..1
    "regressors": 5e-3,  # 128-px crop units
    "classificators": 5e-3,  # logits
    "conv2d_21": 5e-3,  # 192-px crop units
    "conv2d_31": 5e-3,  # logit
    "output_eyes_contours_and_brows": 5e-3,  # 64-px crop units
    "output_iris": 5e-3,
}


def _cases():
    ref = np.load(DATA)
    return sorted(k for k in ref.files if "/out/" not in k)


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(DATA))


@pytest.mark.parametrize("key", _cases())
def test_torch_port_matches_the_tflite_runtime_on_real_photos(reference, key):
    model = key.split("/")[1]
    x = torch.from_numpy(reference[key].astype(np.float32) / 255.0)[None]
    if model == "face_detection_short_range":
        x = x * 2 - 1
    with torch.no_grad():
        out = get_model(model)(x)
    outs = [k for k in reference if k.startswith(key + "/out/")]
    assert outs, f"no reference outputs for {key}"
    for k in outs:
        name = k.rsplit("/", 1)[1]
        ref = reference[k]
        got = out[name].numpy()
        assert got.shape == ref.shape
        err = float(np.abs(got - ref).max())
        assert err <= TOLERANCE[name], (
            f"{key} {name}: max abs difference {err:.2e} (outputs up to {np.abs(ref).max():.3g})"
        )


def test_reference_photos_exercise_real_content(reference):
    # the comparisons above are meaningful only if the photos give confident, non-trivial outputs
    seg = reference["astronaut/selfie_segmentation/out/activation_10"]
    assert 0.3 < float((seg > 0.5).mean()) < 0.8
    logits = reference["astronaut/face_detection_short_range/out/classificators"]
    assert float(logits.max()) > 2.0
    assert float(reference["Tom_Hanks_54745/face_landmark/out/conv2d_31"].reshape(())) > 3.0


def test_shipped_weights_are_all_present_with_their_licence():
    folder = model_path(NAMES[0]).parent
    for name in NAMES:
        g = load_graph(model_path(name))
        assert sum(b.numel() for b in g.buffers()) > 50_000
    licence = (folder / "LICENSE-mediapipe").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert "Modified" in (folder / "NOTICE").read_text()


def test_a_file_that_is_not_a_converted_graph_is_refused(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(3)}, str(p))
    with pytest.raises(GraphFileError, match="not a converted TFLite graph"):
        load_graph(p)
    with pytest.raises(GraphFileError, match="missing"):
        load_graph(tmp_path / "absent.safetensors")


def test_astronaut_irises_and_mesh_land_on_her_face():
    from skimage import data

    from portraitos.engine.faces.landmarks import face_landmarks

    img = torch.from_numpy(data.astronaut()).float() / 255
    face = face_landmarks(img)
    assert face is not None and face.mesh.shape == (468, 3)
    c = face.eye_centres
    # her pupils, read off the photo: about (204, 101) and (247, 104)
    assert float((c[0] - torch.tensor([204.0, 101.0])).norm()) < 3
    assert float((c[1] - torch.tensor([247.0, 104.0])).norm()) < 3
    d = face.iris_diameters_px
    assert 6.5 < float(d.min()) and float(d.max()) < 9.5
    # nose tip (mesh index 1) nearer than the face's outline (index 234, image-left cheek edge)
    assert float(face.mesh[1, 2]) < float(face.mesh[234, 2]) - 20


def test_landmarks_follow_the_face_when_the_photo_is_mirrored():
    from skimage import data

    from portraitos.engine.faces.landmarks import face_landmarks

    img = torch.from_numpy(data.astronaut()).float() / 255
    a = face_landmarks(img)
    b = face_landmarks(img.flip(1))
    W = img.shape[1]
    # mirrored photo: eye centres mirror (and swap sides)
    mirrored = torch.stack([W - b.eye_centres[1, 0], b.eye_centres[1, 1]])
    assert float((mirrored - a.eye_centres[0]).norm()) < 2.5
    assert abs(float(b.iris_diameters_px.mean()) - float(a.iris_diameters_px.mean())) < 0.5
