"""Lens profiles' cost against the ideal lens, in the same process, interleaved (ratios, not seconds).

    .venv/bin/python benchmarks/bench_lens_character.py                       # 2 MP and 8K, 2 rounds
    .venv/bin/python benchmarks/bench_lens_character.py --sizes 1920x1080 --repeat 3 --device cuda
    .venv/bin/python benchmarks/bench_lens_character.py --pictures docs   # docs/optics.md's pictures

The synthetic portrait (head at 2 m with relief, background at 8 m with lights), 85 mm f/1.8, focus 2 m, for
every profile with its own aperture and character; the ideal lens renders with the same aperture, so the
ratio is the character's cost alone. Each round renders the ideal lens, then every profile; the minimum of
each over the rounds is kept. Kernels are built afresh in every render (nothing is cached between renders).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from portraitos.engine.lens import Aperture, LensSettings, render_lens_bokeh
from portraitos.engine.lens.profiles import IDEAL, PROFILES
from portraitos.validation.scenes import portrait_scene

REPO = Path(__file__).resolve().parents[1]


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def pictures(folder: Path) -> None:
    """``lens_profile_<name>.jpg``: the ideal lens (left) and the profile (right), wide open at the profile's own
    f-number, on the synthetic portrait with a little sensor noise (so grain shows)."""
    from PIL import Image

    img, depth = portrait_scene(400, 600)
    gen = torch.Generator().manual_seed(5)
    img = (img + 0.015 * torch.randn(img.shape, generator=gen)).clamp(0, 1)
    folder.mkdir(parents=True, exist_ok=True)
    for name, p in PROFILES.items():
        if name == IDEAL:
            continue
        settings = LensSettings(85, p.max_aperture, 2.0)
        aperture = p.aperture or Aperture()
        ideal = render_lens_bokeh(img, depth, settings, aperture).image[0]
        prof = render_lens_bokeh(img, depth, settings, aperture, character=p.character).image[0]
        pair = torch.cat([ideal, torch.ones(400, 6, 3), prof], dim=1)
        slug = "".join(c if c.isalnum() else "_" for c in name).strip("_").replace("__", "_").replace("__", "_")
        path = folder / f"lens_profile_{slug}.jpg"
        Image.fromarray((pair * 255).round().byte().numpy()).save(path, quality=90)
        print("wrote", path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1920x1080,7680x4320", help="WxH[,WxH...]")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--f-number", type=float, default=1.8)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_lens_character.json"))
    ap.add_argument("--pictures", help="write before/after pictures of every profile into this folder and stop")
    args = ap.parse_args()
    if args.pictures:
        pictures(Path(args.pictures))
        return 0
    device = torch.device(args.device)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    settings = LensSettings(85, args.f_number, 2.0)
    report: dict = {"device": str(device), "threads": torch.get_num_threads(), "lens": f"85 mm f/{args.f_number}"}
    warm_img, warm_depth = portrait_scene(64, 96)
    for p in PROFILES.values():
        render_lens_bokeh(warm_img, warm_depth, settings, p.aperture or Aperture(), character=p.character)
    for part in args.sizes.split(","):
        w, h = (int(v) for v in part.lower().split("x"))
        img, depth = portrait_scene(h, w)
        img, depth = img.to(device), depth.to(device)
        names = [n for n in PROFILES if n != IDEAL]
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for name in names:  # the ideal lens with the profile's aperture, then the profile: pairs side by side
                p = PROFILES[name]
                aperture = p.aperture or Aperture()

                def ideal_render(aperture=aperture):
                    return render_lens_bokeh(img, depth, settings, aperture, device=device)

                def profile_render(aperture=aperture, p=p):
                    return render_lens_bokeh(img, depth, settings, aperture, device=device, character=p.character)

                for key, fn in ((f"ideal ({name})", ideal_render), (name, profile_render)):
                    best[key] = min(best.get(key, float("inf")), timed(fn, device))
        row = {}
        for name in names:
            ideal_s, prof_s = best[f"ideal ({name})"], best[name]
            row[name] = {
                "ideal s": round(ideal_s, 3),
                "profile s": round(prof_s, 3),
                "ratio": round(prof_s / ideal_s, 3),
            }
        report[f"{w}x{h}"] = row
        print(f"{w}x{h}", json.dumps(row, ensure_ascii=False, indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
