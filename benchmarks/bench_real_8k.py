"""The 8K product path with a real upscaler on a live ComfyUI server: image → Real-ESRGAN ×4 → DepthEstimate →
LightingTint → LensBokeh → SaveImage; time and peak memory per node.

    .venv/bin/python benchmarks/bench_real_8k.py                       # 1920×1080 in, 7680×4320 out
    .venv/bin/python benchmarks/bench_real_8k.py --input 480x270 --crops docs/real_2k   # a smaller run

The shipped workflow ``portrait_85mm_f1.8_warm`` (with its depth, matte and in-focus previews) with ComfyUI's
own UpscaleModelLoader + ImageUpscaleWithModel between LoadImage and the pack's nodes, as the selfie
templates' note says to do with an upscale model. The model is Real-ESRGAN x4plus converted from the ncnn
files on PyPI (``testing/real_models.py``); the photo is the 1927 Solvay conference (public domain,
from the same PyPI fetch), cropped to 16:9 and scaled to ``--input``. Per node: wall time between the
server's ``executing`` messages and the peak resident memory of the server process while it ran (sampled
every 20 ms; ``benchmarks/bench_8k.py``'s sampler). ``--crops PREFIX`` writes full-size (1:1 pixel) crops of
the result, on the focused face and on the background, as ``PREFIX_*.jpg``.

Real-ESRGAN at this size is the dear step on a CPU: its cost grows with the input's pixels (about 18 million
multiply-adds per input pixel, 3.7 × 10¹³ for 1920×1080).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import psutil
from PIL import Image

from portraitos.benchmarks.bench_8k import GB, report, run
from portraitos.headless.server import ComfyServer
from portraitos.testing import real_models

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = "portrait_85mm_f1.8_warm"


def make_photo(root: Path, path: Path, width: int, height: int) -> None:
    """The Solvay photograph (3000×2171, greyscale) cropped to the aspect of ``width``×``height`` around its
    seated front row and scaled to that size (RGB)."""
    src = Image.open(root / "photos" / "solvay_conference_1927.jpg").convert("RGB")
    w, h = src.size
    ch = min(h, round(w * height / width))
    cw = round(ch * width / height)
    y0 = max(0, min(h - ch, round(0.62 * h - ch / 2)))  # the seated front row a little below the middle
    x0 = (w - cw) // 2
    src.crop((x0, y0, x0 + cw, y0 + ch)).resize((width, height), Image.LANCZOS).save(path, quality=95)


def graph_with_upscaler(model_name: str) -> dict:
    """The shipped API graph with UpscaleModelLoader (id 20) + ImageUpscaleWithModel (id 21) after LoadImage;
    every input that read LoadImage's image reads the upscaled one."""
    graph = json.loads((REPO / "workflows" / "api" / f"{WORKFLOW}.json").read_text())
    for node in graph.values():
        for k, v in node["inputs"].items():
            if v == ["1", 0]:
                node["inputs"][k] = ["21", 0]
    graph["20"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model_name}}
    graph["21"] = {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["20", 0], "image": ["1", 0]}}
    return graph


def write_crops(result: Path, prefix: Path, focus_xy: tuple[float, float] | None) -> list[Path]:
    """1:1 crops of the result (1200×800 px, or the whole frame when smaller): around the focused eyes
    (``focus_xy``, else the centre) and the top-left background."""
    img = Image.open(result).convert("RGB")
    w, h = img.size
    cw, ch = min(1200, w), min(800, h)
    fx, fy = focus_xy if focus_xy is not None else (w / 2, h / 2)
    boxes = {
        "focus": (int(min(max(fx - cw / 2, 0), w - cw)), int(min(max(fy - ch / 2, 0), h - ch))),
        "background": (0, 0),
    }
    out = []
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for name, (x0, y0) in boxes.items():
        path = prefix.with_name(f"{prefix.name}_{name}.jpg")
        img.crop((x0, y0, x0 + cw, y0 + ch)).save(path, quality=90)
        out.append(path)
    return out


def largest_face_centre(root: Path, result: Path) -> tuple[float, float] | None:
    """The centre (px) of the largest face SCRFD finds in the result (searched at a quarter of its size)."""
    import numpy as np

    from portraitos.engine.faces import load_pack
    from portraitos.engine.faces.analysis import find_faces_insightface, largest_first

    img = Image.open(result).convert("RGB")
    small = np.array(img.resize((img.width // 4, img.height // 4), Image.BOX))
    faces = largest_first(find_faces_insightface(load_pack(root / "models" / "insightface", real_models.PACK), small))
    if not faces:
        return None
    x0, y0, x1, y1 = (4 * float(v) for v in faces[0].bbox[:4])
    return (x0 + x1) / 2, (y0 + y1) / 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="1920x1080", help="WxH of the photo fed to the ×4 upscaler")
    ap.add_argument("--crops", default="", help="write full-size crops of the result as PREFIX_*.jpg")
    args = ap.parse_args(argv)
    width, height = map(int, args.input.split("x"))
    root = real_models.build()
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    print(f"commit {commit.stdout.strip()}; {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / GB:.0f} GB")
    with tempfile.TemporaryDirectory(prefix="portraitos-real-8k-") as tmp:
        server = ComfyServer(Path(tmp), model_folders={"upscale_models": root / "models" / "upscale_models"}).start()
        try:
            name = f"solvay_{width}x{height}.jpg"
            make_photo(root, server.input_dir / name, width, height)
            graph = graph_with_upscaler(real_models.UPSCALER)
            graph["1"]["inputs"]["image"] = name
            rows, total, idle, peak = run(server, graph)
            label = f"{WORKFLOW} with Real-ESRGAN ×4, {width}x{height} → {4 * width}x{4 * height}"
            report(label, rows, total, idle, peak)
            saved = sorted((server.output_dir).rglob("*.png"))
            result = max(saved, key=lambda p: p.stat().st_mtime)
            print(f"result: {Image.open(result).size[0]}x{Image.open(result).size[1]} ({result.name})")
            if args.crops:
                for path in write_crops(result, Path(args.crops), largest_face_centre(root, result)):
                    print(f"wrote {path}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
