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


def build_scaled_detector(
    path: Path,
    image_hw: tuple[int, int],
    box: tuple[float, float, float, float],
    kps: np.ndarray,
    max_face_px: float = 300.0,
) -> Path:
    """An SCRFD-style detector with a **dynamic** input ``[1,3,H,W]`` (as the published exports), that
    finds the face ``box`` / ``kps`` (pixels of a photo of size ``image_hw``) only while the face is at
    most ``max_face_px`` wide in the detector's input, as a real detector misses faces far larger than
    its anchors: a close-up that fills the frame is missed at det_size 640 and found at a smaller size.

    Every grid cell near the face centre predicts the same box (relative to its own anchor), so
    InsightFace's NMS keeps one face; the score also scales with the image's brightness."""
    from onnx import TensorProto, helper, numpy_helper

    h, w = image_hw
    side = float(max(h, w))  # InsightFace letterboxes into the square: coordinates ÷ the long side
    bn = np.array(box, np.float32) / side
    kn = np.asarray(kps, np.float32).reshape(5, 2) / side
    centre = ((bn[0] + bn[2]) / 2, (bn[1] + bn[3]) / 2)
    nodes, inits = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op: str, ins: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    inits.append(numpy_helper.from_array(np.array([3], np.int64), "i3"))
    inits.append(numpy_helper.from_array(np.array([4], np.int64), "i4"))
    inits.append(numpy_helper.from_array(np.array([2], np.int64), "i2"))
    inits.append(numpy_helper.from_array(np.array(0, np.int64), "i0s"))
    inits.append(numpy_helper.from_array(np.array(1, np.int64), "i1s"))
    const("zero", 0.0)
    const("one", 1.0)
    node("Shape", ["input.1"], "shape")
    node("Slice", ["shape", "i2", "i3"], "H1")
    node("Slice", ["shape", "i3", "i4"], "W1")
    # size gate: the face's width in the detector input (input width × its normalised width) ≤ max_face_px
    node("Cast", ["W1"], "Wf", to=TensorProto.FLOAT)
    node("Mul", ["Wf", const("face_w", bn[2] - bn[0])], "face_px")
    node("LessOrEqual", ["face_px", const("max_px", max_face_px)], "small")
    node("Cast", ["small"], "size_gate", to=TensorProto.FLOAT)
    node("ReduceMean", ["input.1"], "mean", keepdims=0)
    node("Add", ["mean", const("gate_bias", 1.3)], "gate_raw")
    node("Clip", ["gate_raw", "zero", "one"], "bright_gate")
    node("Mul", ["size_gate", "bright_gate"], "gate1")
    node("Reshape", ["gate1", numpy_helper.from_array(np.array([], np.int64), "scalar_shape").name], "gate")
    inits.append(numpy_helper.from_array(np.array([], np.int64), "scalar_shape"))
    outputs, outs = {}, []
    for s in STRIDES:
        p = f"s{s}_"
        node("Div", ["H1", numpy_helper.from_array(np.array([s], np.int64), f"{p}st").name], f"{p}h")
        node("Div", ["W1", f"{p}st"], f"{p}w")
        inits.append(numpy_helper.from_array(np.array([s], np.int64), f"{p}st"))
        node("Squeeze", [f"{p}h"], f"{p}hs")
        node("Squeeze", [f"{p}w"], f"{p}ws")
        node("Range", ["i0s", f"{p}hs", "i1s"], f"{p}yr")
        node("Range", ["i0s", f"{p}ws", "i1s"], f"{p}xr")
        node("Cast", [f"{p}yr"], f"{p}yf", to=TensorProto.FLOAT)
        node("Cast", [f"{p}xr"], f"{p}xf", to=TensorProto.FLOAT)
        node("Unsqueeze", [f"{p}yf", numpy_helper.from_array(np.array([1], np.int64), f"{p}ax1").name], f"{p}Y0")
        inits.append(numpy_helper.from_array(np.array([1], np.int64), f"{p}ax1"))
        node("Unsqueeze", [f"{p}xf", numpy_helper.from_array(np.array([0], np.int64), f"{p}ax0").name], f"{p}X0")
        inits.append(numpy_helper.from_array(np.array([0], np.int64), f"{p}ax0"))
        # full [h,w] grids of the cells' column (X) and row (Y) indices
        node("Mul", [f"{p}Y0", "zero"], f"{p}Yz")
        node("Mul", [f"{p}X0", "zero"], f"{p}Xz")
        node("Add", [f"{p}X0", f"{p}Yz"], f"{p}X")
        node("Add", [f"{p}Y0", f"{p}Xz"], f"{p}Y")
        node("Cast", [f"{p}w"], f"{p}wf", to=TensorProto.FLOAT)
        node("Cast", [f"{p}h"], f"{p}hf", to=TensorProto.FLOAT)

        def at(value: float, axis: str, p=p) -> str:  # a normalised coordinate in this stride's cells
            name = f"{p}{axis}{len(nodes)}"
            return node("Mul", [f"{p}{'wf' if axis == 'x' else 'hf'}", const(name + "_c", value)], name)

        # score: a peak 1.5 cells wide around the face centre, times the gates
        node("Sub", [f"{p}X", at(centre[0], "x")], f"{p}dx")
        node("Sub", [f"{p}Y", at(centre[1], "y")], f"{p}dy")
        for d in ("dx", "dy"):
            node("Abs", [f"{p}{d}"], f"{p}{d}a")
            node("Mul", [f"{p}{d}a", const(f"{p}{d}k", 1 / 1.5)], f"{p}{d}s")
            node("Sub", ["one", f"{p}{d}s"], f"{p}{d}1")
            node("Relu", [f"{p}{d}1"], f"{p}{d}r")
        node("Mul", [f"{p}dxr", f"{p}dyr"], f"{p}peak")
        node("Mul", [f"{p}peak", "gate"], f"{p}score_map")
        # box distances and keypoint offsets in cells, relative to each cell's anchor (its top-left corner)
        parts = [
            node("Sub", [f"{p}X", at(bn[0], "x")], f"{p}l"),
            node("Sub", [f"{p}Y", at(bn[1], "y")], f"{p}t"),
            node("Sub", [at(bn[2], "x"), f"{p}X"], f"{p}r"),
            node("Sub", [at(bn[3], "y"), f"{p}Y"], f"{p}b"),
        ]
        kparts = []
        for k in range(5):
            kparts.append(node("Sub", [at(kn[k, 0], "x"), f"{p}X"], f"{p}k{k}x"))
            kparts.append(node("Sub", [at(kn[k, 1], "y"), f"{p}Y"], f"{p}k{k}y"))
        inits.append(numpy_helper.from_array(np.array([2], np.int64), f"{p}ax2"))
        for kind, items in (("score", [f"{p}score_map"]), ("bbox", parts), ("kps", kparts)):
            stacked = [node("Unsqueeze", [it, f"{p}ax2"], f"{it}_u") for it in items]
            cat = node("Concat", stacked, f"{p}{kind}_cat", axis=2) if len(stacked) > 1 else stacked[0]
            node("Unsqueeze", [cat, f"{p}ax2"], f"{p}{kind}_a")  # [h,w,1,c]
            two = node("Concat", [f"{p}{kind}_a", f"{p}{kind}_a"], f"{p}{kind}_2", axis=2)  # two anchors per cell
            shape = numpy_helper.from_array(np.array([-1, len(items)], np.int64), f"{p}{kind}_shape")
            inits.append(shape)
            outputs[(kind, s)] = node("Reshape", [two, shape.name], f"{kind}_{s}")
    for kind in ("score", "bbox", "kps"):
        for s in STRIDES:
            width = {"score": 1, "bbox": 4, "kps": 10}[kind]
            outs.append(helper.make_tensor_value_info(outputs[(kind, s)], TensorProto.FLOAT, ["n", width]))
    graph = helper.make_graph(
        nodes,
        "det_scaled_tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outs,
        inits,
    )
    return _save(graph, path)


def build_closeup_pack(root: Path, pack: str = "closeup") -> tuple[Path, np.ndarray]:
    """A pack with the dynamic-input detector and the tiny recognition model, and the close-up selfie it
    is made for: the astronaut's face cut out and enlarged to fill a 512×512 frame (the face ~80 % of the
    width: missed at det_size 640, found from 320 down). Returns (pack folder, photo)."""
    import cv2
    from skimage import data

    x0, y0, x1, y1 = ASTRONAUT_BOX
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.62 * (x1 - x0)
    crop = (cx - half, cy - half, cx + half, cy + half)
    scale = 512 / (crop[2] - crop[0])
    photo = cv2.resize(
        data.astronaut()[int(crop[1]) : int(crop[1] + 2 * half), int(crop[0]) : int(crop[0] + 2 * half)],
        (512, 512),
        interpolation=cv2.INTER_CUBIC,
    )
    box = tuple((np.array(ASTRONAUT_BOX) - np.array([crop[0], crop[1]] * 2)) * scale)
    kps = (ASTRONAUT_KPS - np.array([crop[0], crop[1]], np.float32)) * scale
    folder = root / "models" / pack
    build_scaled_detector(folder / "det_tiny.onnx", (512, 512), box, kps)
    build_recognition(folder / "w600k_tiny.onnx")
    return folder, photo
