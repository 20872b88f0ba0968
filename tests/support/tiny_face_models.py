"""Small ONNX models with the signatures of an InsightFace model pack, built by the tests.

* ``det_tiny.onnx``: an SCRFD-style detector (input ``[1,3,640,640]``, nine outputs: scores, box
  distances and keypoint offsets for strides 8/16/32, two anchors each). Its outputs are fixed so
  that, on a given photo, they decode to a known face box and five keypoints; the score scales
  with the image's mean brightness, so a black frame has no face.
* ``w600k_tiny.onnx``: a recognition model (input ``[1,3,112,112]``, output ``[1,512]``): 14×14
  average pooling and a fixed random projection, so the embedding depends on the aligned face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DET_SIZE = 640
STRIDES = (8, 16, 32)
ANCHORS = 2


def build_detector(
    path: Path, image_hw: tuple[int, int], box: tuple[float, float, float, float], kps: np.ndarray
) -> Path:
    """Detector whose outputs decode to ``box`` (x0, y0, x1, y1) and ``kps`` ``[5,2]`` in the
    coordinates of an image of size ``image_hw`` (as InsightFace letterboxes it into 640×640)."""
    from onnx import TensorProto, helper, numpy_helper

    h, w = image_hw
    scale = DET_SIZE / max(h, w)  # detect() keeps the aspect ratio, pads bottom/right
    bx = np.array(box, np.float32) * scale
    kp = np.asarray(kps, np.float32) * scale
    stride = 16
    cx, cy = (bx[0] + bx[2]) / 2, (bx[1] + bx[3]) / 2
    gx, gy = int(round(cx / stride)), int(round(cy / stride))
    ax, ay = gx * stride, gy * stride
    nodes, outputs, inits = [], [], []
    # brightness gate: mean of the normalised input (−1 black … +1 white)
    nodes.append(helper.make_node("ReduceMean", ["input.1"], ["mean"], keepdims=0))
    inits.append(numpy_helper.from_array(np.array(1.3, np.float32), "gate_bias"))
    nodes.append(helper.make_node("Add", ["mean", "gate_bias"], ["gate_raw"]))
    inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
    inits.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
    nodes.append(helper.make_node("Clip", ["gate_raw", "zero", "one"], ["gate"]))
    score_maps, box_maps, kps_maps = {}, {}, {}
    for s in STRIDES:
        n = (DET_SIZE // s) ** 2 * ANCHORS
        score = np.zeros((n, 1), np.float32)
        dist = np.ones((n, 4), np.float32)
        kpo = np.zeros((n, 10), np.float32)
        if s == stride:
            idx = (gy * (DET_SIZE // s) + gx) * ANCHORS
            score[idx, 0] = 0.95
            dist[idx] = np.array([ax - bx[0], ay - bx[1], bx[2] - ax, bx[3] - ay]) / s
            kpo[idx] = ((kp - np.array([ax, ay], np.float32)) / s).reshape(-1)
        score_maps[s], box_maps[s], kps_maps[s] = score, dist, kpo
    for kind, maps in (("score", score_maps), ("bbox", box_maps), ("kps", kps_maps)):
        for s in STRIDES:
            name = f"{kind}_{s}"
            inits.append(numpy_helper.from_array(maps[s], f"{name}_const"))
            if kind == "score":
                nodes.append(helper.make_node("Mul", [f"{name}_const", "gate"], [name]))
            else:
                nodes.append(helper.make_node("Identity", [f"{name}_const"], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(maps[s].shape)))
    graph = helper.make_graph(
        nodes,
        "det_tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, DET_SIZE, DET_SIZE])],
        outputs,
        inits,
    )
    return _save(graph, path)


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_recognition(path: Path, seed: int = 0) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    proj = (rng.standard_normal((192, 512)) / np.sqrt(192)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes,
        "w600k_tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])],
        [numpy_helper.from_array(proj, "proj")],
    )
    return _save(graph, path)


# the astronaut's face in skimage.data.astronaut() (512×512): box and five keypoints
# (left eye, right eye, nose, left and right mouth corner), measured on the photo
ASTRONAUT_BOX = (176.0, 62.0, 274.0, 168.0)
ASTRONAUT_KPS = np.array([[202.0, 100.0], [247.0, 101.0], [225.0, 122.0], [207.0, 143.0], [243.0, 143.0]], np.float32)


def build_pack(root: Path, pack: str = "tinypack") -> Path:
    """A model pack folder ``root/models/<pack>/`` as ComfyUI users keep antelopev2 / buffalo_l."""
    folder = root / "models" / pack
    build_detector(folder / "det_tiny.onnx", (512, 512), ASTRONAUT_BOX, ASTRONAUT_KPS)
    build_recognition(folder / "w600k_tiny.onnx")
    return folder
