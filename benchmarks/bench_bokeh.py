"""LensBokeh speed, memory and quality, reported as ratios against baselines run in the same process.

    .venv/bin/python benchmarks/bench_bokeh.py            # all cases (about 3–5 minutes on 2 CPU cores)
    .venv/bin/python benchmarks/bench_bokeh.py --quick    # small sizes only
    .venv/bin/python benchmarks/bench_bokeh.py --device cuda   # on a GPU (times include a warm-up run)
    .venv/bin/python benchmarks/bench_bokeh.py --only scaling --device cuda   # LensBokeh alone, 0.8 to 33 MP:
        # s/MP, peak memory, host-device syncs by source line, GPU vs CPU image; --profile for the top operators
    .venv/bin/python benchmarks/bench_bokeh.py --only quality # the ray-traced reference PSNRs only
    .venv/bin/python benchmarks/bench_bokeh.py --only gegl --sizes 512x768,7680x4320   # against GEGL
    git archive main | tar -x -C /tmp/before && .venv/bin/python benchmarks/bench_bokeh.py --only gegl \
        --compare-with /tmp/before   # and an earlier version of the pack, interleaved in the same run

GEGL peer (setup, not a pack requirement: ``apt-get install -y gegl``): ``gegl:lens-blur`` (GIMP's
lens blur) on the same 8-bit input with a radius map from the same CoC (aux input: per-pixel radius =
mask × ``radius``, mask read as ``Y'`` from a 16-bit PNG), highlight weighting up to 9× above display
value 0.9 like LensBokeh's default rebuild. Its time is that of the ``gegl`` command minus a
load-and-save run of the same files (so file I/O is not counted against it); runs alternate with
LensBokeh's, each repeated, the minimum kept.

Speed: a synthetic portrait (head at 2 m with relief, background at 8 m with lights), 85 mm,
focus 2 m. Memory: peak resident set growth during the call, sampled every 2 ms.
Quality: PSNR against the exact thin-lens ray-traced reference (``validation.reference``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch

from portraitos.engine.lens import LensSettings, ThinLens, render_lens_bokeh
from portraitos.validation.baselines import brute_force_scatter, gaussian_layered_blur
from portraitos.validation.metrics import psnr
from portraitos.validation.reference import (
    render_pinhole,
    render_reference,
    scene_depth_gradient,
    scene_point_lights,
    to_photo,
)
from portraitos.validation.scenes import portrait_scene

REPO = Path(__file__).resolve().parents[1]

DEVICE = torch.device("cpu")
SCENE = "portrait"  # --scene


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
        t_lb, _, res = measure(
            lambda: render_lens_bokeh(photo[None], depth[None], LensSettings(85, 1.4, 2.0), device=DEVICE)
        )
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


GEGL_SIZES = ((512, 768), (1024, 1536), (2048, 3072), (2731, 4096), (4096, 6144), (7680, 4320))  # width × height


def _write_gegl_inputs(folder: Path, img: torch.Tensor, coc: torch.Tensor) -> float:
    """Input PNG (8-bit sRGB) and radius-map PNG (16-bit grey, radius / max radius); returns the max radius."""
    import cv2

    from portraitos.engine.core.colour import to_uint8_rgb

    rgb = to_uint8_rgb(img[0].cpu())
    cv2.imwrite(str(folder / "in.png"), rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
    radius = coc.abs().cpu() * 0.5
    max_r = max(float(radius.max()), 1e-3)
    mask = (radius / max_r * 65535).round().to(torch.int32).numpy().astype("uint16")
    cv2.imwrite(str(folder / "mask.png"), mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return max_r


def _gegl_command(folder: Path, max_r: float, blur: bool) -> list[str]:
    cmd = ["gegl", str(folder / "in.png"), "-o", str(folder / "out.ppm")]
    if blur:
        t_lin = ((0.9 + 0.055) / 1.055) ** 2.4  # display 0.9 in linear light (GEGL weighs linear Y)
        cmd += [
            "--",
            "gegl:lens-blur",
            f"radius={max_r:.3f}",
            f"highlight-factor={math.log2(9.0) / 10:.4f}",  # weight up to 2^(10·factor) = 9
            f"highlight-threshold-low={t_lin:.4f}",
            "highlight-threshold-high=1.0",
            "aux=[",
            "gegl:load",
            f"path={folder / 'mask.png'}",
            "]",
        ]
    return cmd


def _run_gegl(cmd: list[str], threads: int) -> float:
    env = dict(os.environ, GEGL_THREADS=str(threads), GEGL_USE_OPENCL="no")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if done.returncode != 0 or not Path(cmd[3]).exists():
        raise RuntimeError(f"gegl failed ({done.returncode}): {done.stderr[-500:]}")
    Path(cmd[3]).unlink()
    return dt


def load_earlier(folder: str):
    """``render_lens_bokeh`` and ``LensSettings`` of another checkout of the pack (e.g. ``git archive main``),
    imported as ``portraitos_earlier`` so that both versions run in this process."""
    import importlib
    import types

    name = "portraitos_earlier"
    pkg = types.ModuleType(name)
    pkg.__path__ = [str(Path(folder).resolve())]
    sys.modules[name] = pkg
    mod = importlib.import_module(f"{name}.engine.lens.pipeline")
    return mod.render_lens_bokeh, mod.LensSettings


def _scenes(sizes, f_number: float):
    """``(w, h, image, depth, focus_m)`` at each size, on the device, after one small warm-up render.

    ``--scene portrait`` (default): the synthetic portrait, focus 2 m. ``--scene photo``: the sample photo as
    ``bench_8k.py`` frames it, depth from DepthEstimate's portrait prior, focus where auto focus puts it
    (a real photo's depth: gradual, with many layers near focus)."""
    warm_img, warm_depth = portrait_scene(96, 64)
    render_lens_bokeh(warm_img.to(DEVICE), warm_depth.to(DEVICE), LensSettings(85, f_number, 2.0), device=DEVICE)
    for w, h in sizes:
        if SCENE == "photo":
            img, depth, focus = _photo_scene(w, h)
        else:
            (img, depth), focus = portrait_scene(h, w), 2.0
        yield w, h, img.to(DEVICE), depth.to(DEVICE), focus


def _photo_scene(w: int, h: int):
    import numpy as np
    from PIL import Image

    from portraitos.benchmarks.bench_8k import make_photo
    from portraitos.engine.depth.estimate import EstimateSettings, estimate_depth

    with tempfile.TemporaryDirectory() as tmp:
        make_photo(Path(tmp) / "photo.png", w, h)
        img = torch.from_numpy(np.asarray(Image.open(Path(tmp) / "photo.png")).astype(np.float32) / 255)[None]
    depth_map, _matte = estimate_depth(img, EstimateSettings())
    auto = render_lens_bokeh(img, depth_map.metres, LensSettings(85, 1.8, 0.0), depth_meta=depth_map.meta)
    return img, depth_map.metres, float(auto.focus_distance_m[0])


def _timed_round(img, depth, f_number: float, focus_m: float, earlier, t_new: list, t_old: list) -> int:
    """One LensBokeh render (85 mm, focus ``focus_m``) timed into ``t_new``, then the earlier version's into ``t_old``
    (when given); returns the render's peak memory growth in bytes."""
    t, mem, res = measure(lambda: render_lens_bokeh(img, depth, LensSettings(85, f_number, focus_m), device=DEVICE))
    del res
    t_new.append(t)
    if earlier is not None:
        old_render, old_settings = earlier
        t, _, res = measure(lambda: old_render(img, depth, old_settings(85, f_number, focus_m), device=DEVICE))
        del res
        t_old.append(t)
    return mem


def gegl_cases(report: dict, sizes, repeat: int, f_number: float = 1.8, earlier=None):
    """LensBokeh against GEGL lens-blur, same input and CoC, runs interleaved, minimum of ``repeat``.

    ``earlier``: (render_lens_bokeh, LensSettings) of an earlier version, run interleaved as well."""
    out = {}
    if shutil.which("gegl") is None:
        print("gegl not installed (apt-get install -y gegl): GEGL lens-blur peer skipped", flush=True)
        report["GEGL lens-blur peer"] = "gegl not installed"
        return
    threads = torch.get_num_threads()
    for w, h, img, depth, focus in _scenes(sizes, f_number):
        settings = LensSettings(85, f_number, focus)
        coc = ThinLens(85, f_number, focus).coc_px(depth[0], h, w)
        with tempfile.TemporaryDirectory(prefix="bench_gegl_") as tmp:
            folder = Path(tmp)
            max_r = _write_gegl_inputs(folder, img, coc)
            if DEVICE.type == "cuda":
                render_lens_bokeh(img, depth, settings, device=DEVICE)  # warm-up
            t_lb, t_gegl, t_io, t_old, peak = [], [], [], [], 0
            for _ in range(repeat):
                peak = max(peak, _timed_round(img, depth, f_number, focus, earlier, t_lb, t_old))
                t_gegl.append(_run_gegl(_gegl_command(folder, max_r, True), threads))
                t_io.append(_run_gegl(_gegl_command(folder, max_r, False), threads))
        lb, gg, io = min(t_lb), min(t_gegl), min(t_io)
        row = {
            "focus_m": round(focus, 3),
            "max_coc_px": round(2 * max_r, 1),
            "LensBokeh s": round(lb, 3),
            "LensBokeh s/MP": round(lb / (w * h / 1e6), 4),
            "LensBokeh peak_mb": round(peak / 2**20),
            "GEGL lens-blur s": round(gg - io, 3),
            "GEGL command s (incl. file I/O)": round(gg, 3),
            "GEGL ÷ LensBokeh": round((gg - io) / lb, 2),
            "GEGL command ÷ LensBokeh": round(gg / lb, 2),
        }
        if t_old:
            row["earlier LensBokeh s"] = round(min(t_old), 3)
            row["earlier ÷ LensBokeh"] = round(min(t_old) / lb, 2)
            row["GEGL ÷ earlier LensBokeh"] = round((gg - io) / min(t_old), 2)
        out[f"{w}x{h}"] = row
        print(f"{w}x{h}", json.dumps(row), flush=True)
    report[f"GEGL lens-blur peer ({SCENE} scene, 85 mm f/{f_number}, {threads} threads)"] = out


def sync_report(img: torch.Tensor, depth: torch.Tensor, settings) -> dict[str, int]:
    """Host-device synchronisations during one CUDA render, counted by the source line that caused them."""
    import warnings

    counts: dict[str, int] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            render_lens_bokeh(img, depth, settings, device=DEVICE)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        torch.cuda.synchronize()
    for w in caught:
        if "synchroniz" in str(w.message):
            where = f"{Path(w.filename).parent.name}/{Path(w.filename).name}:{w.lineno}"
            counts[where] = counts.get(where, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def scaling_cases(report: dict, sizes, repeat: int, f_number: float = 1.8, earlier=None, profile: bool = False):
    """LensBokeh alone at several sizes: seconds, seconds per megapixel, peak memory (an earlier version
    interleaved when given). On CUDA also the host-device synchronisations of one render, by source line,
    and with ``profile`` the operators that take the GPU's time at the largest size."""
    out = {}
    for w, h, img, depth, focus in _scenes(sizes, f_number):
        settings = LensSettings(85, f_number, focus)
        render_lens_bokeh(img, depth, settings, device=DEVICE)  # warm-up (kernels, FFT plans, allocator)
        t_lb, t_old, peak = [], [], 0
        for _ in range(repeat):
            peak = max(peak, _timed_round(img, depth, f_number, focus, earlier, t_lb, t_old))
        lb = min(t_lb)
        row = {
            "focus_m": round(focus, 3),
            "LensBokeh s": round(lb, 4),
            "LensBokeh s/MP": round(lb / (w * h / 1e6), 5),
            "peak_mb": round(peak / 2**20),
        }
        if t_old:
            row["earlier s"] = round(min(t_old), 4)
            row["earlier ÷ LensBokeh"] = round(min(t_old) / lb, 2)
        if DEVICE.type == "cuda":
            row["syncs by line"] = sync_report(img, depth, settings)
            if w * h <= 2048 * 3072:  # the same render on the CPU: how far the GPU's result is from it
                on_gpu = render_lens_bokeh(img, depth, settings, device=DEVICE).image.cpu()
                on_cpu = render_lens_bokeh(img.cpu(), depth.cpu(), settings).image
                row["GPU vs CPU"] = {
                    "max abs": round(float((on_gpu - on_cpu).abs().max()), 5),
                    "psnr_db": round(psnr(on_gpu[0], on_cpu[0]), 2),
                }
        out[f"{w}x{h}"] = row
        print(f"{w}x{h}", json.dumps(row, ensure_ascii=False), flush=True)
    if profile and DEVICE.type == "cuda":
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            render_lens_bokeh(img, depth, settings, device=DEVICE)
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25), flush=True)
    report[f"LensBokeh scaling ({SCENE} scene, 85 mm f/{f_number}, {DEVICE})"] = out


def _parse_sizes(text: str):
    sizes = []
    for part in text.split(","):
        w, h = part.lower().split("x")
        sizes.append((int(w), int(h)))
    return sizes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_bokeh.json"))
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--only", choices=("quality", "speed", "gegl", "scaling"), help="run one part only")
    ap.add_argument("--sizes", help="GEGL peer sizes, WxH[,WxH...] (default: 512x768 up to 8K)")
    ap.add_argument("--repeat", type=int, default=2, help="GEGL peer: interleaved runs per size (minimum kept)")
    ap.add_argument("--compare-with", help="GEGL peer: also run the pack checked out in this folder, interleaved")
    ap.add_argument("--scene", choices=("portrait", "photo"), default="portrait", help="gegl/scaling: the scene")
    ap.add_argument("--profile", action="store_true", help="scaling on CUDA: operator profile at the largest size")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch and GEGL (default: all cores)")
    args = ap.parse_args()
    global DEVICE, SCENE
    DEVICE = torch.device(args.device)
    SCENE = args.scene
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    report = {"device": str(DEVICE), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.only in (None, "quality"):
        quality_cases(report, 160 if args.quick else 320, 240 if args.quick else 480, 64 if args.quick else 128)
    if args.only in (None, "speed"):
        speed_cases(540, 960, report, "960x540", repeat=2)
        if not args.quick:
            speed_cases(2160, 3840, report, "3840x2160 (4K)")
            speed_cases(4320, 7680, report, "7680x4320 (8K)", gaussian=False)
    if args.only in (None, "gegl"):
        sizes = _parse_sizes(args.sizes) if args.sizes else (GEGL_SIZES[:2] if args.quick else GEGL_SIZES)
        earlier = load_earlier(args.compare_with) if args.compare_with else None
        gegl_cases(report, sizes, args.repeat, earlier=earlier)
    if args.only == "scaling":
        sizes = _parse_sizes(args.sizes) if args.sizes else GEGL_SIZES
        earlier = load_earlier(args.compare_with) if args.compare_with else None
        scaling_cases(report, sizes, args.repeat, earlier=earlier, profile=args.profile)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
