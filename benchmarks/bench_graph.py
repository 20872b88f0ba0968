"""The whole default graph on a live ComfyUI server: seconds and peak memory per node, against LensBokeh
given the depth directly, in the same run.

    .venv/bin/python benchmarks/bench_graph.py                 # 1 MP and 4K
    .venv/bin/python benchmarks/bench_graph.py --8k            # and 8K (7680×4320; minutes on 2 cores)
    .venv/bin/python benchmarks/bench_graph.py --sizes 320x240 # any WxH (the smoke test's size)

The shipped API workflow (default ``portrait_85mm_f1.8_warm``: LoadImage → DepthEstimate → LightingTint →
LensBokeh → SaveImage, with its previews) runs as a user's server runs it (``headless.server``:
``main.py --cpu``, this pack only) on a photo made from the sample portrait at each size. Beside it, at
each size, the same LensBokeh with the depth given (LoadImage → DepthLoad → LensBokeh → SaveImage): the
chain's own depth, written to a ``.npy`` file beforehand (the portrait prior run in this process), so
that file depth is what a measured depth (a phone's, a render's) would give — the same depth values,
without the person layer the prior hands on. A small warm-up prompt runs first (models loaded, not
counted).

Per node: wall time between the server's ``executing`` messages and the peak resident memory of the
server process while that node ran (sampled every 20 ms, ``bench_8k.RssSampler``). The ratio column
divides each node's time by that of LensBokeh with the depth given, at the same size. Output: a
markdown table (for the README), after the machine's CPU count and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import psutil
import torch
import torch.nn.functional as F
from PIL import Image

from portraitos.benchmarks.bench_8k import GB, make_photo, run
from portraitos.headless.server import ComfyServer

REPO = Path(__file__).resolve().parents[1]
SIZES = {"1MP": (1152, 864), "4K": (3840, 2160), "8K": (7680, 4320)}  # width, height
LENS = "LensBokeh"


def parse_size(text: str) -> tuple[int, int]:
    """``1MP``/``4K``/``8K`` or ``WxH``."""
    if text in SIZES:
        return SIZES[text]
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def given_depth_graph(chain: dict, photo: str, depth_file: str) -> dict:
    """LoadImage → DepthLoad → LensBokeh → SaveImage with the chain's lens settings (no LIGHTING)."""
    lens_id = next(k for k, v in chain.items() if v["class_type"] == LENS)
    lens = json.loads(json.dumps(chain[lens_id]["inputs"]))
    lens.update(image=["1", 0], depth=["2", 0])
    lens.pop("lighting", None)
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": photo}},
        "2": {"class_type": "DepthLoad", "inputs": {"depth": depth_file, "scale": 1.0}},
        "4": {"class_type": LENS, "inputs": lens},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "bench_graph_given"}},
    }


def chain_depth(photo: Path, settings_inputs: dict) -> np.ndarray:
    """The depth (metres, ``[H,W]`` float32) the chain's DepthEstimate gives this photo, from the engine."""
    from portraitos.engine.depth import EstimateSettings, estimate_depth

    rgb = torch.from_numpy(np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32) / 255.0)[None]
    settings = EstimateSettings(background_distance_m=float(settings_inputs.get("background_distance_m", 6.0)))
    dm, _ = estimate_depth(rgb, settings)
    metres = dm.metres[:1]
    if metres.shape[1:] != rgb.shape[1:3]:
        metres = F.interpolate(metres[None], size=rgb.shape[1:3], mode="bilinear", align_corners=False)[0]
    return metres[0].numpy().astype(np.float32)


def table(results: dict) -> str:
    lines = [
        "| size | node | seconds | × LensBokeh (given depth) | peak RSS GB | above idle GB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (w, h), (chain, given) in results.items():
        base = next(dt for _n, ct, dt, _r in given["rows"] if ct == LENS)
        label = f"{w}×{h}"
        for _nid, ct, dt, rss in given["rows"]:
            if ct == LENS:
                lines.append(
                    f"| {label} | LensBokeh, depth given | {dt:.2f} | 1.00 | {rss / GB:.2f} | "
                    f"{(rss - given['idle']) / GB:.2f} |"
                )
        for _nid, ct, dt, rss in chain["rows"]:
            if ct in ("PreviewImage", "MaskToImage") and dt < 0.5:
                continue  # the previews' own nodes: too short to time
            lines.append(
                f"| {label} | {ct} | {dt:.2f} | {dt / base:.2f} | {rss / GB:.2f} | {(rss - chain['idle']) / GB:.2f} |"
            )
        lines.append(
            f"| {label} | **default graph, all** | {chain['total']:.2f} | {chain['total'] / base:.2f} | "
            f"{chain['peak'] / GB:.2f} | {(chain['peak'] - chain['idle']) / GB:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflow", default="portrait_85mm_f1.8_warm")
    ap.add_argument("--sizes", default="1MP,4K", help="comma-separated 1MP, 4K, 8K or WxH")
    ap.add_argument("--8k", dest="eight_k", action="store_true", help="add 8K (7680×4320)")
    ap.add_argument("--warmup", default="320x240", help="WxH of the uncounted first prompt ('' to skip)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds one prompt may take")
    args = ap.parse_args(argv)
    chain_graph = json.loads((REPO / "workflows" / "api" / f"{args.workflow}.json").read_text())
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    if args.eight_k and SIZES["8K"] not in sizes:
        sizes.append(SIZES["8K"])
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True, text=True)
    depth_inputs = next(v["inputs"] for v in chain_graph.values() if v["class_type"] == "DepthEstimate")
    with tempfile.TemporaryDirectory(prefix="portraitos-graph-") as tmp:
        server = ComfyServer(Path(tmp)).start()
        try:
            if args.warmup:
                w, h = parse_size(args.warmup)
                make_photo(server.input_dir / "warmup.jpg", w, h)
                g = json.loads(json.dumps(chain_graph))
                g["1"]["inputs"]["image"] = "warmup.jpg"
                run(server, g)
            results = {}
            for w, h in sizes:
                photo = f"graph_{w}x{h}.jpg"
                make_photo(server.input_dir / photo, w, h)
                depth_file = f"graph_{w}x{h}_depth.npy"
                np.save(server.input_dir / depth_file, chain_depth(server.input_dir / photo, depth_inputs))
                g = json.loads(json.dumps(chain_graph))
                g["1"]["inputs"]["image"] = photo
                runs = {}
                for name, graph in (("given", given_depth_graph(chain_graph, photo, depth_file)), ("chain", g)):
                    rows, total, idle, peak = run(server, graph)
                    runs[name] = {"rows": rows, "total": total, "idle": idle, "peak": peak}
                    print(f"{w}x{h} {name}: {total:.1f} s, peak {peak / GB:.2f} GB", flush=True)
                results[(w, h)] = runs["chain"], runs["given"]
                print(table({(w, h): results[(w, h)]}) + "\n", flush=True)  # each size as it is done
        finally:
            server.stop()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\ncommit {commit.stdout.strip()}; {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / GB:.0f} GB; "
        f"load average {load} (1, 5, 15 min) at the end; torch threads in the server: its default\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
