"""Reference outputs of MediaPipe's TFLite models on real photos, for tests/engine/test_mediapipe_port.py.

Two steps, two environments (the TFLite runtime is not a dependency of the pack):

    # 1. in the pack's venv: the model inputs the pack's own pre-processing makes from real photos
    .venv/bin/python tools/mediapipe_reference.py inputs tests/data/mediapipe_reference.npz
    # 2. in a separate venv with ai-edge-litert==2.3.0 and numpy (nothing else), the reference runtime:
    /tmp/litert/bin/python tools/mediapipe_reference.py outputs tests/data/mediapipe_reference.npz \
        --models /tmp/mp/mediapipe/modules

Photos: skimage's astronaut and InsightFace's sample images (Tom Hanks, a masked face, a group).
Inputs are stored as uint8 (the test feeds the same uint8/255 values to both runtimes).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TFLITE = {
    "selfie_segmentation": "selfie_segmentation/selfie_segmentation.tflite",
    "face_detection_short_range": "face_detection/face_detection_short_range.tflite",
    "face_landmark": "face_landmark/face_landmark.tflite",
    "iris_landmark": "iris_landmark/iris_landmark.tflite",
}


def photos() -> dict[str, np.ndarray]:
    import insightface
    from PIL import Image
    from skimage import data

    folder = Path(insightface.__file__).parent / "data" / "images"
    out = {"astronaut": data.astronaut()}
    for name in ("Tom_Hanks_54745.png", "mask_white.jpg", "t1.jpg"):
        out[Path(name).stem] = np.array(Image.open(folder / name).convert("RGB"))
    return out


def make_inputs(path: Path) -> None:
    import torch

    from portraitos.engine.faces.crop import Region, crop
    from portraitos.engine.faces.landmarks import IRIS_ROI_SCALE, LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS, _roi_from_mesh
    from portraitos.engine.people.face_finding import find_face

    arrays: dict[str, np.ndarray] = {}
    for name, rgb in photos().items():
        img = torch.from_numpy(rgb).float() / 255
        H, W, _ = img.shape
        side = max(H, W)
        q = lambda t: (t[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()  # noqa: E731
        arrays[f"{name}/selfie_segmentation"] = q(crop(img, Region(W / 2, H / 2, W, H), 256, 256))
        arrays[f"{name}/face_detection_short_range"] = q(crop(img, Region(W / 2, H / 2, side, side), 128, 128, "zero"))
        face = find_face(img)
        if face is None:
            continue
        arrays[f"{name}/face_landmark"] = q(crop(img, _roi_from_mesh(face.mesh), 192, 192))
        # the two iris crops, as landmarks.py makes them (the second one mirrored)
        for k, (corners, flip) in enumerate(((LEFT_EYE_CORNERS, False), (RIGHT_EYE_CORNERS, True))):
            a, b = face.mesh[corners[0], :2], face.mesh[corners[1], :2]
            a, b = (b, a) if float(b[0]) < float(a[0]) else (a, b)
            angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
            s = float((b - a).norm()) * IRIS_ROI_SCALE
            c = (a + b) / 2
            arrays[f"{name}/iris_landmark/{k}"] = q(
                crop(img, Region(float(c[0]), float(c[1]), s, s, angle, flip), 64, 64)
            )
    np.savez_compressed(path, **arrays)
    print(f"{path}: {len(arrays)} inputs")


def run_reference(path: Path, models: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    arrays = dict(np.load(path))
    interpreters = {}
    for key in [k for k in list(arrays) if "/out/" not in k]:
        model = key.split("/")[1]
        if model not in interpreters:
            it = Interpreter(model_path=str(models / TFLITE[model]))
            it.allocate_tensors()
            interpreters[model] = it
        it = interpreters[model]
        x = arrays[key].astype(np.float32)[None] / 255.0
        if model == "face_detection_short_range":
            x = x * 2 - 1
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        for o in it.get_output_details():
            arrays[f"{key}/out/{o['name']}"] = it.get_tensor(o["index"]).copy()
    np.savez_compressed(path, **arrays)
    print(f"{path}: {sum('/out/' in k for k in arrays)} reference outputs")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("inputs", "outputs"))
    ap.add_argument("path", type=Path)
    ap.add_argument("--models", type=Path, help="folder of the wheel's mediapipe/modules")
    a = ap.parse_args()
    if a.step == "inputs":
        make_inputs(a.path)
    else:
        run_reference(a.path, a.models)


if __name__ == "__main__":
    main()
