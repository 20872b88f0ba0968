"""Time and peak memory of LensBokeh with lens settings whose circle of confusion dwarfs the frame.

Each case runs in its own subprocess (a fresh process: its resident memory is the case's own), sampled
every 20 ms with psutil; the baseline is the ordinary 85 mm f/1.8 portrait at the same size, run the
same way, so the numbers read as ratios against it.

    .venv/bin/python benchmarks/bench_extreme_lens.py --size 512 [--timeout 180]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "baseline 85mm f/1.8 @ 1.5m": (85.0, 1.8, 1.5),
    "396mm f/0.7 @ 0.40m": (396.0, 0.7, 0.40),
    "85mm f/1.8 @ 0.0851m": (85.0, 1.8, 0.0851),
    "400mm f/0.7 @ 0.401m": (400.0, 0.7, 0.401),
}

CHILD = r"""
import json, sys, time, warnings
import torch
from portraitos.engine.lens import LensSettings, render_lens_bokeh
torch.set_num_threads(2)
size, f, n, s = {size}, {f}, {n}, {s}
g = torch.Generator().manual_seed(0)
img = torch.rand(1, size, size, 3, generator=g) * 0.8
yy = torch.linspace(0, 1, size).view(size, 1).expand(size, size)
depth = (1.5 + 4.0 * (yy > 0.5).float()).unsqueeze(0)  # subject 1.5 m, background 5.5 m
t0 = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        r = render_lens_bokeh(img, depth, LensSettings(f, n, s))
        out = {{"ok": True, "mean": float(r.image.mean()), "max_coc_px": float(r.coc_px.abs().max())}}
    except Exception as e:
        out = {{"ok": False, "error": f"{{type(e).__name__}}: {{str(e)[:200]}}"}}
out["seconds"] = time.perf_counter() - t0
out["warnings"] = [str(w.message)[:160] for w in caught]
print("RESULT " + json.dumps(out), flush=True)
"""


def run_case(size: int, f: float, n: float, s: float, timeout: float) -> dict:
    code = CHILD.format(size=size, f=f, n=n, s=s)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = psutil.Process(proc.pid)
    base_rss, peak = None, 0
    t0 = time.perf_counter()
    while proc.poll() is None:
        try:
            rss = p.memory_info().rss
        except psutil.NoSuchProcess:
            break
        base_rss = rss if base_rss is None else base_rss
        peak = max(peak, rss)
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            proc.wait()
            return {"ok": False, "error": f"killed after {timeout:.0f} s", "peak_rss_mb": peak / 2**20}
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
    res = json.loads(line[7:]) if line else {"ok": False, "error": stderr.strip().splitlines()[-1:]}
    res["peak_rss_mb"] = round(peak / 2**20, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    args = ap.parse_args()
    for name, (f, n, s) in CASES.items():
        if args.only and args.only not in name and "baseline" not in name:
            continue
        r = run_case(args.size, f, n, s, args.timeout)
        print(f"{name:28s} {json.dumps(r)}", flush=True)


if __name__ == "__main__":
    main()
