"""LensBokeh speed, memory and quality, reported as ratios against baselines run in the same process.

    .venv/bin/python benchmarks/bench_bokeh.py            # all cases (about 3–5 minutes on 2 CPU cores)
    .venv/bin/python benchmarks/bench_bokeh.py --quick    # small sizes only
    .venv/bin/python benchmarks/bench_bokeh.py --device cuda   # on a GPU (times include a warm-up run)

Speed: a synthetic portrait (head at 2 m with relief, background at 8 m with lights), 85 mm,
focus 2 m. Memory: peak resident set growth during the call, sampled every 2 ms.
Quality: PSNR against the exact thin-lens ray-traced reference (``validation.reference``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))
import pack_import  # noqa: E402,F401  (the pack as ``portraitos``)

from portraitos.engine.lens import LensSettings, ThinLens, render_lens_bokeh  # noqa: E402
from portraitos.validation.baselines import brute_force_scatter, gaussian_layered_blur  # noqa: E402
from portraitos.validation.metrics import psnr  # noqa: E402
from portraitos.validation.reference import (  # noqa: E402
    render_pinhole,
    render_reference,
    scene_depth_gradient,
    scene_point_lights,
    to_photo,
)
from portraitos.validation.scenes import portrait_scene  # noqa: E402

DEVICE = torch.device("cpu")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def measure(fn, repeat: int = 1):
    """(best seconds, peak RSS growth in bytes, result) of ``fn()``; on CUDA the peak is GPU memory."""
    proc = psutil.Process(os.getpid())
    best = float("inf")
    peak_growth = 0
    result = None
    for _ in range(repeat):
        base = proc.memory_info().rss
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.002)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        if DEVICE.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        _sync()
        t0 = time.perf_counter()
        result = fn()
        _sync()
        dt = time.perf_counter() - t0
        if DEVICE.type == "cuda":
            peak[0] = base + torch.cuda.max_memory_allocated()
        stop.set()
        t.join()
        best = min(best, dt)
        peak_growth = max(peak_growth, peak[0] - base)
    return best, peak_growth, result


def speed_cases(h: int, w: int, report: dict, label: str, gaussian: bool = True, repeat: int = 1):
    img, depth = portrait_scene(h, w)
    row = {}
    if DEVICE.type == "cuda":
        img, depth = img.to(DEVICE), depth.to(DEVICE)
        render_lens_bokeh(img, depth, LensSettings(85, 1.2, 2.0), device=DEVICE)  # warm-up
    for n in (2.8, 1.8, 1.2):
        t, mem, res = measure(lambda: render_lens_bokeh(img, depth, LensSettings(85, n, 2.0), device=DEVICE), repeat)
        row[f"f/{n}"] = {
            "seconds": round(t, 3),
            "peak_mb": round(mem / 2**20),
            "max_coc_px": round(float(res.coc_px.abs().max()), 1),
        }
        del res
    row["f/1.2 ÷ f/2.8 time"] = round(row["f/1.2"]["seconds"] / row["f/2.8"]["seconds"], 3)
    if gaussian:
        coc = ThinLens(85, 1.2, 2.0).coc_px(depth[0], h, w).to(img.device)
        tg, memg, _ = measure(lambda: gaussian_layered_blur(img[0], coc), 1)
        row["gaussian layered baseline"] = {"seconds": round(tg, 3), "peak_mb": round(memg / 2**20)}
        row["LensBokeh f/1.2 ÷ gaussian time"] = round(row["f/1.2"]["seconds"] / tg, 3)
    report[label] = row
    print(label, json.dumps(row), flush=True)


def quality_cases(report: dict, h: int, w: int, samples: int):
    out = {}
    lens = ThinLens(85, 1.4, 2.0)
    for name, scene in (("point lights", scene_point_lights()), ("depth gradient", scene_depth_gradient())):
        ref = to_photo(render_reference(scene, lens, h, w, samples=samples))
        lin, depth = render_pinhole(scene, lens, h, w)
        photo = to_photo(lin)
        t_lb, _, res = measure(lambda: render_lens_bokeh(photo[None], depth[None], LensSettings(85, 1.4, 2.0)))
        coc = res.coc_px[0]
        t_g, _, gauss = measure(lambda: gaussian_layered_blur(photo, coc))
        t_bf, _, brute = measure(lambda: brute_force_scatter(photo, coc))
        out[name] = {
            "size": f"{w}x{h}",
            "max_coc_px": round(float(coc.abs().max()), 1),
            "psnr_db": {
                "LensBokeh": round(psnr(res.image[0], ref), 2),
                "gaussian layered": round(psnr(gauss, ref), 2),
                "brute-force scatter": round(psnr(brute, ref), 2),
                "unblurred input": round(psnr(photo, ref), 2),
            },
            "seconds": {
                "LensBokeh": round(t_lb, 3),
                "gaussian layered": round(t_g, 3),
                "brute-force scatter": round(t_bf, 3),
            },
        }
        out[name]["LensBokeh − gaussian dB"] = round(
            out[name]["psnr_db"]["LensBokeh"] - out[name]["psnr_db"]["gaussian layered"], 2
        )
        out[name]["brute-force ÷ LensBokeh time"] = round(t_bf / t_lb, 2)
        print(name, json.dumps(out[name]), flush=True)
    report["quality vs ray-traced reference (85 mm f/1.4, focus 2 m)"] = out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_bokeh.json"))
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    report = {"device": str(DEVICE), "threads": torch.get_num_threads(), "torch": torch.__version__}
    quality_cases(report, 160 if args.quick else 320, 240 if args.quick else 480, 64 if args.quick else 128)
    speed_cases(540, 960, report, "960x540", repeat=2)
    if not args.quick:
        speed_cases(2160, 3840, report, "3840x2160 (4K)")
        speed_cases(4320, 7680, report, "7680x4320 (8K)", gaussian=False)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
