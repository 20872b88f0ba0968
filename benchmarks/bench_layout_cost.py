"""What the background's layout (engine/depth/layout.py) costs: the layout step alone at 1 MP and 8K, and
the weight-free portrait prior with and without it (the ratio), on the street scene of
benchmarks/bench_receding.py (a pinhole render scaled up, so the texture measurement has real work).

    .venv/bin/python benchmarks/bench_layout_cost.py [--sizes 1mp,8k] [--prior-sizes 1mp] [--repeat 3] [--threads N]

Times are the median of ``--repeat`` runs in one process, wall-clock and CPU (every thread's: the work
itself, which a loaded machine does not stretch); the prior's ratio is measured alternately with the
layout on and off, so a loaded machine affects both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from portraitos.engine.core.camera import pixels_per_mm
from portraitos.engine.depth import layout
from portraitos.engine.depth.layout import Standing, background_layout
from portraitos.engine.depth.portrait_prior import portrait_prior
from portraitos.engine.lens.optics import ThinLens
from portraitos.validation.reference import render_pinhole, to_photo
from portraitos.validation.scenes import street_scene

try:
    from bench_portrait_chain import astronaut_texture
except ImportError:  # run as a module
    from .bench_portrait_chain import astronaut_texture

SIZES = {"1mp": (864, 1152), "8k": (4320, 7680)}


def scene(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    lin, depth = render_pinhole(street_scene(astronaut_texture()), ThinLens(85.0, 1.8, 3.0), 480, 640, pixel_samples=2)
    photo = to_photo(lin).permute(2, 0, 1)[None]
    big = F.interpolate(photo, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)[0].permute(1, 2, 0)
    people = F.interpolate(((depth - 3.0).abs() < 1e-3).float()[None, None], size=(h, w), mode="nearest")[0, 0] > 0.5
    return big.contiguous(), people


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (every thread of the process) of ``repeat`` calls of ``fn``."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1mp,8k")
    ap.add_argument("--prior-sizes", default="1mp")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch's CPU threads (0: its default)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for name in a.sizes.split(","):
        h, w = SIZES[name]
        img, people = scene(h, w)
        eye = h * 0.42
        standing = [Standing(3.0, (w * 0.3, h * 0.93), eye)]
        background_layout(img, people, standing, 6.0)  # warm up
        t_layout, c_layout = timed(lambda: background_layout(img, people, standing, 6.0), a.repeat)
        line = f"{name} ({w}×{h}, {torch.get_num_threads()} threads): layout {t_layout:.3f} s ({c_layout:.3f} s CPU)"
        if name in a.prior_sizes.split(","):
            ppm = pixels_per_mm(h, w, "full frame 36x24")
            on, off = [], []
            for _ in range(a.repeat):
                for enabled, bucket in ((True, on), (False, off)):
                    layout.ENABLED = enabled
                    t, c = time.perf_counter(), time.process_time()
                    portrait_prior(img, ppm, 85.0, 0.0, 6.0)
                    bucket.append((time.perf_counter() - t, time.process_time() - c))
            layout.ENABLED = True
            t_on, t_off = (statistics.median(v[0] for v in b) for b in (on, off))
            c_on, c_off = (statistics.median(v[1] for v in b) for b in (on, off))
            line += (
                f"; prior {t_off:.2f} s without the layout, {t_on:.2f} s with it (×{t_on / t_off:.3f}); CPU "
                f"{c_off:.2f} s and {c_on:.2f} s (×{c_on / c_off:.3f})"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
