"""Run a converted TFLite graph in torch: the operator list stored in a safetensors file by
``tools/convert_mediapipe.py``, executed op by op with TFLite's exact semantics.

Activations with four dimensions are held as NCHW (TFLite's NHWC is converted at the edges and in
RESHAPE/CONCATENATION/MEAN/PAD); all other tensors keep their TFLite layout. Supported ops are the
ones MediaPipe's selfie segmentation, face detector, face mesh and iris models use; a file with any
other op is refused when it is loaded, not when it runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

SUPPORTED = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "ADD",
    "MUL",
    "RELU",
    "RELU6",
    "PRELU",
    "HARD_SWISH",
    "LOGISTIC",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "MEAN",
    "RESIZE_BILINEAR",
    "PAD",
    "RESHAPE",
    "CONCATENATION",
    "CUSTOM:Convolution2DTransposeBias",
}
NHWC_TO_NCHW_AXIS = (0, 2, 3, 1)


# ops whose second operand is a constant tensor the graph file must hold
_WEIGHTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "CUSTOM:Convolution2DTransposeBias",
    "PRELU",
    "PAD",
    "MEAN",
    "RESIZE_BILINEAR",
)


class GraphFileError(ValueError):
    """A model file that is not a converted graph this module can run."""


def _same_pad(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis: out = ceil(size / s), extra at the end."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _activation(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "NONE":
        return x
    if name == "RELU":
        return F.relu(x)
    if name == "RELU6":
        return x.clamp(0, 6)
    if name == "RELU_N1_TO_1":
        return x.clamp(-1, 1)
    raise GraphFileError(f"fused activation {name} is not supported")


class TFLiteGraph(torch.nn.Module):
    """A TFLite graph as a torch module. ``forward(x)`` takes the single input as NHWC ``[1,H,W,C]``
    (the file's input layout, any batch size) and returns ``{output name: tensor}`` in TFLite layout."""

    def __init__(self, tensors: dict[str, torch.Tensor], graph: dict[str, Any], name: str = "graph") -> None:
        super().__init__()
        self.name = name
        self.ops = graph["ops"]
        self.inputs = graph["inputs"]
        self.outputs = graph["outputs"]
        self.shapes = {int(k): v for k, v in graph["shapes"].items()}
        unknown = sorted({op["op"] for op in self.ops} - SUPPORTED)
        if unknown:
            raise GraphFileError(f"{name}: unsupported operators {unknown}")
        if len(self.inputs) != 1:
            raise GraphFileError(f"{name}: expected one input, the file has {len(self.inputs)}")
        self._consts: dict[int, str] = {}
        for op in self.ops:
            self._prepare(op, tensors)

    # weights are converted to torch layout once, here
    def _register(self, key: str, value: torch.Tensor) -> str:
        self.register_buffer(key, value.to(torch.float32).contiguous(), persistent=False)
        return key

    def _const(self, tensors: dict[str, torch.Tensor], i: int) -> torch.Tensor | None:
        return tensors.get(f"c{i}")

    def _prepare(self, op: dict, tensors: dict[str, torch.Tensor]) -> None:
        kind, ins = op["op"], op["in"]
        w = self._const(tensors, ins[1]) if len(ins) > 1 and ins[1] >= 0 else None
        b = self._const(tensors, ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
        if kind in _WEIGHTED_OPS and w is None:
            raise GraphFileError(f"{kind} op without its constant operand {ins[1:2]}: the converted graph is damaged")
        if kind == "CUSTOM:Convolution2DTransposeBias" and b is None:
            raise GraphFileError(f"{kind} op without its bias operand: the converted graph is damaged")
        if kind == "CONV_2D":  # [O,H,W,I] -> [O,I,H,W]
            self._consts[ins[1]] = self._register(f"w{ins[1]}", w.permute(0, 3, 1, 2))  # type: ignore[union-attr]  # checked above
            if b is not None:
                self._consts[ins[2]] = self._register(f"b{ins[2]}", b)
        elif kind == "DEPTHWISE_CONV_2D":  # [1,H,W,C] -> [C,1,H,W]
            self._consts[ins[1]] = self._register(f"w{ins[1]}", w.permute(3, 0, 1, 2))  # type: ignore[union-attr]  # checked above
            if b is not None:
                self._consts[ins[2]] = self._register(f"b{ins[2]}", b)
        elif kind == "CUSTOM:Convolution2DTransposeBias":  # [O,H,W,I] -> [I,O,H,W], no flip
            self._consts[ins[1]] = self._register(f"w{ins[1]}", w.permute(3, 0, 1, 2))  # type: ignore[union-attr]  # checked above
            self._consts[ins[2]] = self._register(f"b{ins[2]}", b)  # type: ignore[arg-type]  # checked above
        elif kind == "PRELU":  # slope [1,1,C] -> [1,C,1,1]
            self._consts[ins[1]] = self._register(f"a{ins[1]}", w.reshape(1, -1, 1, 1))  # type: ignore[union-attr]  # checked above
        elif kind in ("ADD", "MUL"):
            for i in ins:
                c = self._const(tensors, i)
                if c is not None:
                    if c.dim() == 4:
                        c = c.permute(0, 3, 1, 2)
                    elif c.dim() == 1 and c.numel() > 1:
                        c = c.reshape(1, -1, 1, 1)
                    self._consts[i] = self._register(f"k{i}", c)
        elif kind in ("PAD", "MEAN", "RESIZE_BILINEAR"):
            self._consts[ins[1]] = self._register(f"p{ins[1]}", w)  # type: ignore[arg-type]  # checked above

    def _get(self, env: dict[int, torch.Tensor], i: int) -> torch.Tensor:
        if i in env:
            return env[i]
        return getattr(self, self._consts[i])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.device.type != "cpu":
            return self._forward(x)
        # hundreds of tiny ops: one thread is fastest (thread hand-offs cost more than the work, and far
        # more when the CPU is shared)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._forward(x)
        finally:
            torch.set_num_threads(threads)

    def _forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        inp = self.inputs[0]
        if x.dim() != 4 or list(x.shape[1:]) != inp["shape"][1:]:
            raise ValueError(
                f"{self.name}: input must be [B,{','.join(map(str, inp['shape'][1:]))}], got {tuple(x.shape)}"
            )
        env: dict[int, torch.Tensor] = {inp["index"]: x.permute(0, 3, 1, 2)}
        for op in self.ops:
            env[op["out"][0]] = self._run(op, env)
        out = {}
        for o in self.outputs:
            t = env[o["index"]]
            out[o["name"]] = t.permute(0, 2, 3, 1) if t.dim() == 4 else t
        return out

    def _run(self, op: dict, env: dict[int, torch.Tensor]) -> torch.Tensor:
        kind, ins, opt = op["op"], op["in"], op["opt"]
        x = self._get(env, ins[0])
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = self._get(env, ins[1])
            b = self._get(env, ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            (sh, sw), (dh, dw) = opt["stride"], opt["dilation"]
            kh, kw = w.shape[-2:]
            if opt["padding"] == "SAME":
                ph, pw = _same_pad(x.shape[2], kh, sh, dh), _same_pad(x.shape[3], kw, sw, dw)
                if any(ph + pw):
                    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
            groups = x.shape[1] if kind == "DEPTHWISE_CONV_2D" else 1
            y = F.conv2d(x, w, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
            return _activation(y, opt["activation"])
        if kind == "CUSTOM:Convolution2DTransposeBias":
            w, b = self._get(env, ins[1]), self._get(env, ins[2])
            sh, sw = opt["stride"]
            if opt["padding"] != "SAME" or tuple(w.shape[-2:]) != (sh, sw):
                raise GraphFileError(f"{self.name}: transposed convolution only for kernel == stride, SAME")
            return F.conv_transpose2d(x, w, b, stride=(sh, sw))
        if kind in ("ADD", "MUL"):
            y = self._get(env, ins[1])
            r = x + y if kind == "ADD" else x * y
            return _activation(r, opt["activation"])
        if kind == "RELU":
            return F.relu(x)
        if kind == "RELU6":
            return x.clamp(0, 6)
        if kind == "PRELU":
            a = self._get(env, ins[1])
            return torch.where(x >= 0, x, x * a)
        if kind == "HARD_SWISH":
            return F.hardswish(x)
        if kind == "LOGISTIC":
            return torch.sigmoid(x)
        if kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            return self._pool(x, kind, opt)
        if kind == "MEAN":
            axes = [int(a) for a in self._get(env, ins[1]).reshape(-1).tolist()]
            if x.dim() == 4:
                axes = [NHWC_TO_NCHW_AXIS[a % 4] for a in axes]
            y = x.mean(dim=axes, keepdim=opt["keep_dims"])
            if y.dim() != 4 and x.dim() == 4:
                raise GraphFileError(f"{self.name}: MEAN without keep_dims on 4-D input is not supported")
            return y
        if kind == "RESIZE_BILINEAR":
            size = [int(v) for v in self._get(env, ins[1]).tolist()]
            if opt["align_corners"]:
                return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
            if not opt["half_pixel_centers"]:
                raise GraphFileError(f"{self.name}: RESIZE_BILINEAR without half-pixel centres is not supported")
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if kind == "PAD":
            p = self._get(env, ins[1]).to(torch.int64).tolist()  # NHWC [[b0,b1],[h0,h1],[w0,w1],[c0,c1]]
            if x.dim() == 4:
                return F.pad(x, (p[2][0], p[2][1], p[1][0], p[1][1], p[3][0], p[3][1], p[0][0], p[0][1]))
            flat = [v for pair in reversed(p) for v in pair]
            return F.pad(x, flat)
        if kind == "RESHAPE":
            shape = list(self.shapes[op["out"][0]])
            if x.dim() == 4:
                x = x.permute(0, 2, 3, 1)
            shape[0] = x.shape[0]
            y = x.reshape(shape)
            return y.permute(0, 3, 1, 2) if y.dim() == 4 else y
        if kind == "CONCATENATION":
            parts = [self._get(env, i) for i in ins]
            axis = opt["axis"] % parts[0].dim()
            if parts[0].dim() == 4:
                axis = NHWC_TO_NCHW_AXIS[axis]
            return _activation(torch.cat(parts, dim=axis), opt["activation"])
        raise GraphFileError(f"{self.name}: operator {kind} is not supported")

    def _pool(self, x: torch.Tensor, kind: str, opt: dict) -> torch.Tensor:
        (sh, sw), (kh, kw) = opt["stride"], opt["filter"]
        if opt["padding"] == "SAME":
            ph, pw = _same_pad(x.shape[2], kh, sh), _same_pad(x.shape[3], kw, sw)
        else:
            ph, pw = (0, 0), (0, 0)
        pad = (pw[0], pw[1], ph[0], ph[1])
        if kind == "MAX_POOL_2D":
            if any(pad):
                x = F.pad(x, pad, value=float("-inf"))
            y = F.max_pool2d(x, (kh, kw), (sh, sw))
        else:  # TFLite averages over the valid (unpadded) cells only
            if any(pad):
                ones = F.pad(torch.ones_like(x[:, :1]), pad)
                x = F.pad(x, pad)
                y = F.avg_pool2d(x, (kh, kw), (sh, sw)) / F.avg_pool2d(ones, (kh, kw), (sh, sw))
            else:
                y = F.avg_pool2d(x, (kh, kw), (sh, sw))
        return _activation(y, opt["activation"])


def load_graph(path: str | Path) -> TFLiteGraph:
    """Load a converted graph file (safetensors; no pickled code) as a :class:`TFLiteGraph` on the CPU."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise GraphFileError(f"model file {path} is missing; the pack ships it under models/mediapipe/")
    try:
        with safe_open(str(path), framework="pt") as f:  # type: ignore[attr-defined]  # safetensors' stub lacks it
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types
        raise GraphFileError(f"{path} is not a readable safetensors file: {e}") from e
    if meta.get("format") != "portraitos-tflite-graph-1" or "graph" not in meta:
        raise GraphFileError(f"{path} is not a converted TFLite graph (made by tools/convert_mediapipe.py)")
    for part in graph_parts(path, meta):
        try:
            with safe_open(str(part), framework="pt") as f:  # type: ignore[attr-defined]
                part_meta = f.metadata() or {}
                part_tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:
            raise GraphFileError(f"{part} is not a readable safetensors file: {e}") from e
        if part_meta.get("format") != "portraitos-tflite-graph-part-1" or part_meta.get("of") != path.name:
            raise GraphFileError(f"{part} is not a part of {path.name}")
        if part_meta.get("source_sha256") != meta.get("source_sha256"):
            raise GraphFileError(
                f"{part} was converted from another source than {path.name} (source_sha256 differs): "
                "reinstall the pack so both come from the same release"
            )
        tensors.update(part_tensors)
    return TFLiteGraph(tensors, json.loads(meta["graph"]), name=path.stem).eval()


def graph_parts(path: Path, meta: dict[str, str]) -> list[Path]:
    """The part files a converted graph's main file lists in its metadata (``parts``: a JSON list of
    file names beside it; none for a one-file model); a missing part raises :class:`GraphFileError`."""
    parts = [path.parent / name for name in json.loads(meta.get("parts", "[]"))]
    for part in parts:
        if not part.is_file():
            raise GraphFileError(
                f"model file {part} is missing; the pack ships it under models/mediapipe/ beside {path.name}"
            )
    return parts
