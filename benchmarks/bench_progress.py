"""How often LensBokeh's progress bar moves: time to the first tick and the longest gap between ticks
(each tick is also where Cancel is honoured), as seconds and as fractions of the whole render.

    .venv/bin/python benchmarks/bench_progress.py              # 1024², 2048², 3072²
    .venv/bin/python benchmarks/bench_progress.py --sizes 3072

Scene: the synthetic portrait of bench_bokeh (head at 2 m, background with lights at 8 m), 85 mm
f/1.8, auto focus, 2 threads.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from portraitos.engine.lens import LensSettings, render_lens_bokeh
from portraitos.validation.scenes import portrait_scene

REPO = Path(__file__).resolve().parents[1]


def ticks_of(n: int) -> tuple[float, list[float]]:
    image, depth = portrait_scene(n, n)
    times: list[float] = []
    t0 = time.perf_counter()
    lens = LensSettings(85.0, 1.8, 0.0)
    render_lens_bokeh(image, depth, lens, progress=lambda done, total: times.append(time.perf_counter()))
    total = time.perf_counter() - t0
    return total, [t - t0 for t in times]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 3072])
    args = ap.parse_args()
    torch.set_num_threads(2)
    print("| size | total | ticks | first tick | longest gap | first ÷ total | gap ÷ total |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        total, t = ticks_of(n)
        marks = [0.0, *t, total]
        gap = max(b - a for a, b in zip(marks, marks[1:]))
        first = t[0] if t else total
        row = [f"{n}²", f"{total:.2f} s", str(len(t)), f"{first:.2f} s", f"{gap:.2f} s"]
        row += [f"{first / total:.2f}", f"{gap / total:.2f}"]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
