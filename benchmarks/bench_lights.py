"""Lights at night, scored against the exact thin-lens lens: the lamps' region, the edge band at depth steps
and the rest of the frame, with the true depth and through the chain (DepthEstimate's portrait prior, then
LensBokeh on auto focus), optionally against an earlier version of the pack in the same process.

    .venv/bin/python benchmarks/bench_lights.py --cache out/lights            # ray traced once, then reused
    git archive <commit> | tar -x -C /tmp/before && .venv/bin/python benchmarks/bench_lights.py \
        --cache out/lights --compare-with /tmp/before --save docs    # before/after, and the pictures

Scenes (``validation.night``), photographed and traced through the same camera glare (a 2 % halo, so a
clipped lamp keeps an unclipped fringe of its colour, as in a real photo): lamps of several colours at 2 m
(in focus), 3.5, 6, 10 and 18 m before a dim wall, 85 mm focused at 2 m, 480 × 320; and a person (the
astronaut card of ``bench_portrait_chain``) at 2.2 m over two strings of warm bulbs at 4 and 7 m and cool
windows at 12 m, 480 × 640. Each at f/1.2 and f/2.8. Regions: ``lamps`` (every lamp's exact defocus disc and
2 px), ``edges`` (4 px either side of a step in the true depth, away from the lamps), ``rest``. Also the
in-focus lamps' largest change (sRGB, 0..1) from the photo, and how far the lamps' discs are from the
LIGHTING's colour when one is connected.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from portraitos.benchmarks.bench_bokeh import load_earlier
from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.lens.optics import ThinLens
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.night import (
    camera_glare,
    edge_band,
    lamp_region,
    lamps_at_distances,
    masked_psnr,
    portrait_over_string_lights,
    render_lamps,
    with_lamps,
)
from portraitos.validation.reference import render_pinhole, render_reference, to_photo

REPO = Path(__file__).resolve().parents[1]


def scenes():
    """name -> (planes, lamps, (h, w), exact focus m, chain focus m (0 = auto), whether the chain runs)."""
    from portraitos.benchmarks.bench_portrait_chain import SUBJECT_M, astronaut_texture

    planes, lamps = lamps_at_distances()
    out = {"lamps at 2-18 m": (planes, lamps, (320, 480), 2.0, 2.0, False)}
    planes, lamps = portrait_over_string_lights(astronaut_texture(), SUBJECT_M)
    out["portrait over string lights"] = (planes, lamps, (640, 480), SUBJECT_M, 0.0, True)
    return out


def traced(name: str, planes, lamps, lens: ThinLens, h: int, w: int, samples: int, cache: Path | None):
    """(photo ``[h,w,3]`` sRGB clipped, true depth ``[h,w]`` m, exact defocus ``[h,w,3]`` sRGB), cached: the
    scene ray traced with ``samples`` rays per pixel, its lamps followed from each lamp (``render_lamps``)."""
    path = None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        slug = name.replace(" ", "_").replace("-", "_")
        path = cache / f"{slug}_f{lens.f_number:g}_s{samples}_linear.pt"
    if path is not None and path.exists():
        lin, depth, exact = torch.load(path, weights_only=True)
    else:
        lin, depth = render_pinhole(with_lamps(planes, lamps), lens, h, w, pixel_samples=8)
        exact = render_reference(planes, lens, h, w, samples=samples) + render_lamps(planes, lamps, lens, h, w)
        if path is not None:
            torch.save((lin, depth, exact), path)
    # the camera's own lens, for the photo and the exact image alike: a clipped lamp keeps a fringe
    return to_photo(camera_glare(lin)), depth, to_photo(camera_glare(exact))


def scores(img: torch.Tensor, exact: torch.Tensor, regions: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: round(masked_psnr(img, exact, m), 2) for k, m in regions.items()}


def lighting_colour_error(render, photo, depth, settings, lamps_mask) -> float:
    """Largest angle (degrees) between the lamps' disc light (above the render without highlights) and the
    warm preset's highlight colour, in linear RGB, when that LIGHTING is connected."""
    from portraitos.engine.lens import HighlightRebuild, highlights_under
    from portraitos.engine.lighting.relight import LightingParams, resolve_setup

    _, setup = resolve_setup(LightingParams("warm cinematic"))
    hl = highlights_under(setup, 0.9, HighlightRebuild().boost)
    lit = render(photo[None], depth[None], settings, highlights=hl).image[0]
    plain = render(photo[None], depth[None], settings, highlights=HighlightRebuild(boost=0.0)).image[0]
    extra = (srgb_to_linear(lit) - srgb_to_linear(plain)).clamp_min(0)[lamps_mask].sum(0)
    want = torch.tensor(setup.highlight_rgb)
    cos = float((extra @ want) / (extra.norm() * want.norm()).clamp_min(1e-12))
    return round(float(torch.rad2deg(torch.arccos(torch.tensor(min(cos, 1.0))))), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=64, help="rays per pixel of the exact render")
    ap.add_argument("--f-numbers", default="1.2,2.8")
    ap.add_argument("--cache", type=Path, default=None, help="keep the ray-traced scenes here")
    ap.add_argument("--compare-with", help="also run the pack checked out in this folder (before)")
    ap.add_argument("--no-chain", action="store_true", help="true depth only")
    ap.add_argument("--save", type=Path, default=None, help="write the night portrait before/after pictures here")
    ap.add_argument("--only", default=None, help="run the scenes whose name contains this")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_lights.json")
    a = ap.parse_args()
    versions = {"now": (render_lens_bokeh, LensSettings)}
    if a.compare_with:
        versions = {"before": load_earlier(a.compare_with), **versions}
    report: dict = {}
    pictures: dict = {}
    for name, (planes, lamps, (h, w), focus_m, chain_focus, chain) in scenes().items():
        if a.only and a.only not in name:
            continue
        for n in (float(x) for x in a.f_numbers.split(",")):
            lens = ThinLens(85.0, n, focus_m)
            t0 = time.perf_counter()
            photo, depth, exact = traced(name, planes, lamps, lens, h, w, a.samples, a.cache)
            t_trace = time.perf_counter() - t0
            lamps_mask = lamp_region(lamps, lens, h, w)
            edges = edge_band(depth) & ~lamps_mask
            regions = {
                "lamps": lamps_mask,
                "edges": edges,
                "rest": ~(lamps_mask | edges),
                "all": torch.ones_like(edges),
            }
            in_focus = [lp for lp in lamps if abs(float(lens.coc_px(torch.tensor([lp.z_m]), h, w)[0])) < 1.0]
            focus_mask = lamp_region(in_focus, lens, h, w, margin_px=1.0) if in_focus else None
            row: dict = {"unblurred input": scores(photo, exact, regions), "trace s": round(t_trace, 1)}
            dm = None
            if chain and not a.no_chain:
                from portraitos.engine.depth import EstimateSettings, estimate_depth

                dm, _ = estimate_depth(photo[None], EstimateSettings())
            for label, (render, settings_cls) in versions.items():

                def run(img, d, settings, _render=render, **kw):
                    return _render(img, d, settings, **kw)

                settings = settings_cls(85.0, n, focus_m)
                true = render(photo[None], depth[None], settings).image[0]
                row[f"{label}, true depth"] = scores(true, exact, regions)
                pictures[(name, n, label, "true")] = true
                if focus_mask is not None:
                    row[f"{label}, in-focus lamps max change"] = round(float((true - photo).abs()[focus_mask].max()), 4)
                row[f"{label}, lamps' colour vs LIGHTING (deg)"] = lighting_colour_error(
                    run, photo, depth, settings, lamps_mask
                )
                if dm is not None:
                    auto = settings_cls(85.0, n, chain_focus)
                    out = render(photo[None], dm.metres, auto, depth_meta=dm.meta, layer_alpha=dm.layer_alpha)
                    row[f"{label}, chain"] = scores(out.image[0], exact, regions)
                    pictures[(name, n, label, "chain")] = out.image[0]
            pictures[(name, n, "exact", "")] = exact
            pictures[(name, n, "photo", "")] = photo
            key = f"{name}, f/{n:g}"
            report[key] = row
            print(key, json.dumps(row), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {a.out}")
    if a.save is not None and a.compare_with:
        save_pictures(a.save, pictures)


def save_pictures(folder: Path, pictures: dict) -> None:
    """``night_portrait_before_after.jpg``: per f-number a row of photo | before | after | exact (chain)."""
    from PIL import Image

    name = "portrait over string lights"
    rows = []
    for n in (1.2, 2.8):
        kind = "chain" if (name, n, "now", "chain") in pictures else "true"
        if (name, n, "now", kind) not in pictures:
            continue
        tiles = [pictures[(name, n, "photo", "")], pictures[(name, n, "before", kind)]]
        tiles += [pictures[(name, n, "now", kind)], pictures[(name, n, "exact", "")]]
        rows.append(torch.cat(tiles, 1))
    if not rows:
        return
    grid = torch.cat(rows, 0)
    folder.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray((grid.clamp(0, 1) * 255).round().byte().numpy())
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS)
    img.save(folder / "night_portrait_before_after.jpg", quality=88)
    print(f"wrote {folder / 'night_portrait_before_after.jpg'}")


if __name__ == "__main__":
    main()
