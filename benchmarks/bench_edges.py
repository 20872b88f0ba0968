"""Edges at depth steps, scored against the exact thin lens with the TRUE depth: the edge band (4 px either
side of a step in the true depth), the ring around a foreground thrown out of focus, and the rest of the frame,
optionally against an earlier version of the pack in the same process.

    .venv/bin/python benchmarks/bench_edges.py --cache out/edges            # ray traced once, then reused
    git archive <commit> engine validation __init__.py | tar -x -C /tmp/before && \\
        .venv/bin/python benchmarks/bench_edges.py --cache out/edges --compare-with /tmp/before

Scenes (``validation.reference``, 480 × 320, 85 mm): bench_bokeh's two reference scenes at f/1.4 focused on the
subject at 2 m (point lights on a wall at 6 m with a near bar at 1.2 m; a floor receding to a wall at 8 m), and
a head at 2 m before a textured wall at 6 m, focused on the head (the background blurred behind a sharp
outline) and focused on the wall (the head thrown out of focus over a sharp background), at f/1.2. Scores:
PSNR (dB, sRGB) in the edge band, in the ring (within the largest CoC radius of a step, outside the edge band)
and elsewhere; and the largest mean excess brightness (sRGB luma) in 2 px bands around the steps (a ring).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from portraitos.benchmarks.bench_bokeh import load_earlier
from portraitos.engine.lens.optics import ThinLens
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.night import edge_band, masked_psnr
from portraitos.validation.reference import (
    card,
    pattern_texture,
    render_pinhole,
    render_reference,
    scene_depth_gradient,
    scene_point_lights,
    shape_texture,
    to_photo,
)

REPO = Path(__file__).resolve().parents[1]
H, W = 320, 480


def head_before_wall():
    """A head (an ellipse card, skin-coloured pattern) at 2 m before a blue-grey patterned wall at 6 m."""
    head = shape_texture(
        pattern_texture(12.0, (1.0, 0.75, 0.6), 0.8), lambda x, y: (x / 140.0) ** 2 + ((y - 30) / 200.0) ** 2 <= 1.0
    )
    return [card(6.0, pattern_texture(60.0, (0.7, 0.8, 1.0), 0.8)), card(2.0, head)]


def scenes():
    """name -> (planes, f-number, focus m)."""
    return {
        "point lights, near bar (f/1.4, focus 2 m)": (scene_point_lights(), 1.4, 2.0),
        "floor receding to a wall (f/1.4, focus 2 m)": (scene_depth_gradient(), 1.4, 2.0),
        "head before a wall, focus on the head (f/1.2)": (head_before_wall(), 1.2, 2.0),
        "head before a wall, focus on the wall (f/1.2)": (head_before_wall(), 1.2, 6.0),
    }


def traced(name: str, planes, lens: ThinLens, samples: int, cache: Path | None):
    """(photo ``[H,W,3]`` sRGB, true depth ``[H,W]`` m, exact ``[H,W,3]`` sRGB), cached in ``cache``."""
    path = None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() else "_" for c in name)
        path = cache / f"{slug}_s{samples}.pt"
    if path is not None and path.exists():
        lin, depth, exact = torch.load(path, weights_only=True)
    else:
        lin, depth = render_pinhole(planes, lens, H, W, pixel_samples=16)
        exact = render_reference(planes, lens, H, W, samples=samples)
        if path is not None:
            torch.save((lin, depth, exact), path)
    return to_photo(lin), depth, to_photo(exact)


def _luma(img: torch.Tensor) -> torch.Tensor:
    return (img * torch.tensor([0.2126, 0.7152, 0.0722])).sum(-1)


def ring_excess(img: torch.Tensor, exact: torch.Tensor, depth: torch.Tensor, reach: int) -> float:
    """The largest mean excess luma of ``img`` over ``exact`` in 2-px bands at 0..``reach`` px from a depth step."""
    steps = edge_band(depth, band_px=0)[None, None].float()
    worst, inner = 0.0, steps
    diff = _luma(img) - _luma(exact)
    for _ in range(0, reach, 2):
        outer = F.max_pool2d(inner, 5, 1, 2)
        band = (outer > 0) & ~(inner > 0) if inner is not steps else outer > 0
        sel = band[0, 0]
        if bool(sel.any()):
            worst = max(worst, float(diff[sel].mean()))
        inner = outer
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=128, help="rays per pixel of the exact render")
    ap.add_argument("--cache", type=Path, default=None, help="keep the ray-traced scenes here")
    ap.add_argument("--compare-with", help="also run the pack checked out in this folder (before)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_edges.json")
    a = ap.parse_args()
    versions = {"now": (render_lens_bokeh, LensSettings)}
    if a.compare_with:
        versions = {"before": load_earlier(a.compare_with), **versions}
    report: dict = {}
    for name, (planes, n, focus_m) in scenes().items():
        lens = ThinLens(85.0, n, focus_m)
        t0 = time.perf_counter()
        photo, depth, exact = traced(name, planes, lens, a.samples, a.cache)
        row: dict = {"trace s": round(time.perf_counter() - t0, 1)}
        reach = int(float(lens.coc_px(depth, H, W).abs().max()) / 2) + 2
        edges = edge_band(depth)
        ring = edge_band(depth, band_px=reach) & ~edges
        regions = {"edge band": edges, "ring": ring, "rest": ~(edges | ring), "all": torch.ones_like(edges)}
        row["unblurred input"] = {k: round(masked_psnr(photo, exact, m), 2) for k, m in regions.items()}
        for label, (render, settings_cls) in versions.items():
            t0 = time.perf_counter()
            out = render(photo[None], depth[None], settings_cls(85.0, n, focus_m)).image[0]
            scores = {k: round(masked_psnr(out, exact, m), 2) for k, m in regions.items()}
            scores["ring excess luma"] = round(ring_excess(out, exact, depth, reach), 4)
            scores["render s"] = round(time.perf_counter() - t0, 2)
            row[label] = scores
        report[name] = row
        print(name, json.dumps(row), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
