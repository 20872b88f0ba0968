"""The weight-free chain on receding backgrounds, scored against exact defocus: photo -> DepthEstimate
(portrait prior) -> LensBokeh (auto focus on the eyes, 85 mm f/1.8, full frame).

    .venv/bin/python benchmarks/bench_receding.py [--samples 48] [--cache out/receding] [--save out/receding]

Scenes (validation/scenes.py), ray traced with the exact thin-lens reference: the astronaut card at 3 m
(benchmarks/bench_portrait_chain.py), standing on the floor where there is one: before an oblique brick
façade receding from 4 m to 28 m with lamps at every distance;
on a gravel street (2.57 m at the frame's bottom to a building at 25 m, a wall with
lamps along it); three rows of a group (3, 4.2, 5.6 m) on a grass floor before a wall at 10 m.

Per scene: PSNR (dB, sRGB) of the chain, of the untouched photo and of LensBokeh with the true depth
against the exact render, over the whole frame and over the background away from the lights (background:
true depth beyond 1.3× the focus distance, 6 px from anything nearer; away from the lights: farther from
every lamp than 1.3× its true blur radius + 3 px); and the Pearson correlation of the chain's CoC
(|1/S − 1/Z| with its own focus S and depth Z) with the true CoC over the background.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.lens.optics import ThinLens
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.reference import render_pinhole, render_reference, to_photo
from portraitos.validation.scenes import facade_scene, group_scene, street_scene

try:
    from bench_portrait_chain import astronaut_texture
except ImportError:  # run as a module
    from .bench_portrait_chain import astronaut_texture

H, W = 480, 640
SUBJECT_M = 3.0


def scenes() -> dict[str, list]:
    person = astronaut_texture()
    return {
        "façade 4-28 m, lamps": facade_scene(person),
        "street 2.57-25 m": street_scene(person),
        "group of three on a floor, wall 10 m": group_scene(person),
    }


def regions(
    photo_lin: torch.Tensor, depth: torch.Tensor, focus_m: float, lens: ThinLens
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[H,W]`` bool: the background, and the background away from the lights (see the module's text)."""
    near = (depth < 1.3 * focus_m).float()[None, None]
    bg = (F.max_pool2d(near, 13, stride=1, padding=6)[0, 0] < 0.5) & (depth >= 1.3 * focus_m)
    lit = photo_lin.max(-1).values > 1.5  # linear radiance far above diffuse white: a lamp
    coc = ThinLens(lens.focal_length_mm, lens.f_number, focus_m).coc_px(depth, *depth.shape).abs()
    reach = torch.where(lit, coc * 0.65 + 3, torch.zeros_like(coc))
    ys, xs = torch.nonzero(lit, as_tuple=True)
    yy = torch.arange(depth.shape[0]).view(-1, 1).float()
    xx = torch.arange(depth.shape[1]).view(1, -1).float()
    touched = torch.zeros_like(bg)
    for y, x in zip(ys[::3].tolist(), xs[::3].tolist()):
        r = float(reach[y, x])
        touched |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    return bg, bg & ~touched


def psnr_on(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2)[mask].mean())
    return 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item()


def coc_correlation(depth_est, focus_est_m, depth_true, focus_true_m, mask) -> float:
    e = (1 / focus_est_m - 1 / depth_est.clamp_min(0.05)).abs()[mask].double()
    t = (1 / focus_true_m - 1 / depth_true.clamp_min(0.05)).abs()[mask].double()
    e, t = e - e.mean(), t - t.mean()
    return float((e * t).sum() / (e.norm() * t.norm()).clamp_min(1e-12))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--f-number", type=float, default=1.8)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="keep the ray-traced scenes here (reused by later runs)")
    ap.add_argument("--only", default="", help="run only the scenes whose name contains this")
    ap.add_argument("--one-plane", action="store_true", help="the background as one plane (the layout off)")
    ap.add_argument(
        "--no-people-ground", action="store_true", help="no ground from the people's contacts (layout.PEOPLE_ON_GROUND)"
    )
    a = ap.parse_args()
    from portraitos.engine.depth import layout

    layout.ENABLED = not a.one_plane
    layout.PEOPLE_ON_GROUND = not a.no_people_ground
    rows = []
    for name, planes in scenes().items():
        if a.only and a.only not in name:
            continue
        lens = ThinLens(85.0, a.f_number, SUBJECT_M)
        cached = a.cache / f"{name.split(' ')[0]}.pt" if a.cache is not None else None
        if cached is not None and cached.exists():
            lin, depth, exact = torch.load(cached, weights_only=True)
        else:
            lin, depth = render_pinhole(planes, lens, H, W, pixel_samples=8)
            exact = to_photo(render_reference(planes, lens, H, W, samples=a.samples))
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                torch.save((lin, depth, exact), cached)
        photo = to_photo(lin)
        t = time.perf_counter()
        dm, _ = estimate_depth(photo[None], EstimateSettings())
        t_depth = time.perf_counter() - t
        settings = LensSettings(85.0, a.f_number, 0.0)
        chain = render_lens_bokeh(photo[None], dm.metres, settings, depth_meta=dm.meta, layer_alpha=dm.layer_alpha)
        oracle = render_lens_bokeh(
            photo[None], depth[None], settings, focus_mask=None, depth_meta={"eye_xy": dm.meta.get("eye_xy")}
        )
        bg, calm = regions(lin, depth, SUBJECT_M, lens)
        s_est = float(chain.focus_distance_m[0])
        r = {
            "chain": psnr_on(chain.image[0], exact, calm),
            "photo": psnr_on(photo, exact, calm),
            "true": psnr_on(oracle.image[0], exact, calm),
            "chain_all": psnr_on(chain.image[0], exact, torch.ones_like(bg)),
            "photo_all": psnr_on(photo, exact, torch.ones_like(bg)),
            "true_all": psnr_on(oracle.image[0], exact, torch.ones_like(bg)),
            "corr": coc_correlation(dm.metres[0], s_est, depth, SUBJECT_M, bg),
        }
        rows.append(r)
        print(
            f"{name}: away from the lights ({100 * float(calm.float().mean()):.0f} % of the frame) chain "
            f"{r['chain']:.2f} dB | photo {r['photo']:.2f} | true depth {r['true']:.2f}; whole frame chain "
            f"{r['chain_all']:.2f} | photo {r['photo_all']:.2f} | true depth {r['true_all']:.2f}; CoC correlation "
            f"{r['corr']:.3f}; focus {s_est:.2f} m; DepthEstimate {t_depth:.1f} s; "
            f"{dm.meta.get('layout', {}).get('summary', 'one plane')}",
            flush=True,
        )
        if a.save is not None:
            from PIL import Image

            from portraitos.engine.depth import depth_preview

            a.save.mkdir(parents=True, exist_ok=True)
            prev = depth_preview(dm.metres)[0]
            tile = torch.cat([photo, chain.image[0], exact, prev], 1)
            Image.fromarray((tile.clamp(0, 1) * 255).round().byte().numpy()).save(a.save / f"{name.split(' ')[0]}.png")
    n = max(len(rows), 1)
    print(
        f"mean over {len(rows)} scenes, away from the lights: chain {sum(r['chain'] for r in rows) / n:.2f} dB, photo "
        f"{sum(r['photo'] for r in rows) / n:.2f}, true depth {sum(r['true'] for r in rows) / n:.2f}; CoC correlation "
        f"{sum(r['corr'] for r in rows) / n:.3f}"
    )


if __name__ == "__main__":
    main()
