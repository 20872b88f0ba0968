"""The whole weight-free chain, scored against exact defocus: photo -> DepthEstimate (portrait prior)
-> LensBokeh (auto focus, node defaults: 85 mm, f/1.8, full frame).

    .venv/bin/python benchmarks/bench_portrait_chain.py [--samples 48] [--save out/chain] [--cache out/chain_scenes]

Scenes are ray traced with the exact thin-lens reference (validation/reference.py): a real person
(skimage's astronaut, printed on a card at 2.2 m so that her iris is 11.7 mm across) with hair
wisps, a red disc behind her shoulder, an object she holds 0.3 m in front of her, a wall with
lights; the same with a farther wall; the first refocused on the wall (the person thrown out of focus,
her clipped whites included); two people, the same astronaut at 2.2 m and at 4.4 m behind her to the
side (auto focus on the nearer); and a face-less head-like ellipse (scene_point_lights). The
person's outline (alpha) comes from the segmentation of the *original* photo, binarised; the chain
sees her composited on a new background, so it must find the outline again (stated in the report:
the outline is one the segmentation can reproduce). Scores: PSNR (dB, sRGB) of the chain's result,
of the unblurred input and of LensBokeh with the true depth, against the exact render.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.lens.optics import ThinLens
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.metrics import psnr
from portraitos.validation.reference import (
    card,
    pattern_texture,
    render_pinhole,
    render_reference,
    scene_point_lights,
    shape_texture,
    to_photo,
    with_lights,
)

REPO = Path(__file__).resolve().parents[1]

H, W = 640, 480
SUBJECT_M = 2.2
MM_PER_PX = 11.7 / 7.8  # the astronaut's iris spans 7.8 px of the 512-px photo


def astronaut_texture(alpha_threshold: float = 0.5):
    """The astronaut as a card texture: photo (linear light) with the binarised person outline, plus
    hair wisps (thin dark strands, alpha 0.85) leaving her hair. Coordinates in mm, card centred."""
    from skimage import data

    from portraitos.engine.people.person_matte import person_probability, refine_to_image

    rgb = torch.from_numpy(data.astronaut()).float() / 255
    alpha = (refine_to_image(person_probability(rgb), rgb, eps=1e-3) > alpha_threshold).float()
    lin = srgb_to_linear(rgb)
    tex = torch.cat([lin, alpha[..., None]], -1).permute(2, 0, 1)[None].double()  # [1,4,512,512]
    x0, y0 = -225 * MM_PER_PX, -SUBJECT_M / 2.2 * 360.0  # face centre on the optical axis, head near the top
    # wisps: 14 strands starting inside the hair outline, leaving it upwards and sideways
    g = torch.Generator().manual_seed(1)
    strands = []
    for k in range(14):
        th = torch.tensor(-2.9 + 2.7 * k / 13)
        start = torch.tensor([222.0, 95.0]) + 78 * torch.stack([torch.cos(th), 1.1 * torch.sin(th)])
        pts = [start]
        d = torch.stack([torch.cos(th), torch.sin(th)])
        for _ in range(8):
            d = d + 0.35 * (torch.rand(2, generator=g) - 0.5)
            d = d / d.norm()
            pts.append(pts[-1] + 5.0 * d)
        strands.append(torch.stack(pts))
    # rasterise the strands once at twice the photo's resolution (distance to the nearest segment)
    seg_a = torch.cat([s[:-1] for s in strands])
    seg_b = torch.cat([s[1:] for s in strands])
    n = 2 * 512
    c = (torch.arange(n, dtype=torch.float32) + 0.5) / 2
    p = torch.stack(torch.meshgrid(c, c, indexing="xy"), -1).reshape(-1, 1, 2)
    dist = torch.full((n * n,), 1e9)
    for i in range(0, len(seg_a), 16):
        a_, b_ = seg_a[i : i + 16], seg_b[i : i + 16]
        ab = b_ - a_
        t = (((p - a_) * ab).sum(-1) / (ab * ab).sum(-1)).clamp(0, 1)
        dist = torch.minimum(dist, (p - (a_ + t[..., None] * ab)).norm(dim=-1).min(1).values)
    wisp = (0.85 * (1 - (dist.reshape(n, n) - 0.5).clamp(0, 1))).double()  # about 1 photo px wide
    hair = torch.tensor([0.05, 0.03, 0.02], dtype=torch.float64).view(1, 3, 1, 1)
    big = F.interpolate(tex, size=(n, n), mode="bilinear", align_corners=False)
    over = (wisp > big[0, 3])[None, None]
    big = torch.cat(
        [torch.where(over, hair.expand(1, 3, n, n), big[:, :3]), torch.maximum(big[:, 3:], wisp[None, None])], 1
    )

    def texture(x, y):
        u = (x - x0) / MM_PER_PX
        v = (y - y0) / MM_PER_PX
        grid = torch.stack([u / 512 * 2 - 1, v / 512 * 2 - 1], -1).reshape(1, 1, -1, 2)
        s = F.grid_sample(big, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, :, 0]
        s = s.T.reshape(*x.shape, 4)
        return s[..., :3], s[..., 3]

    return texture


def wall(z_m: float):
    lights = [(x, y) for x in range(-2000, 2001, 330) for y in range(-1500, 1501, 410)]
    return card(z_m, with_lights(pattern_texture(60.0 * z_m / 6, (0.7, 0.8, 1.0), 0.8), lights, 7.0 * z_m / 6, 25.0))


def person_scene(wall_m: float):
    red = shape_texture(
        pattern_texture(25.0, (1.0, 0.12, 0.08), 0.5), lambda x, y: (x - 420) ** 2 + (y - 60) ** 2 < 230**2
    )
    held = shape_texture(
        pattern_texture(10.0, (0.9, 0.9, 0.2), 0.9), lambda x, y: (x > -170) & (x < 10) & (y > 170) & (y < 330)
    )
    return [wall(wall_m), card(3.3, red), card(SUBJECT_M, astronaut_texture()), card(SUBJECT_M - 0.3, held)]


def shifted(texture, dx_mm: float):
    """A card texture moved ``dx_mm`` sideways on its card."""
    return lambda x, y: texture(x - dx_mm, y)


def two_person_scene(far_m: float = 4.4):
    """The astronaut at 2.2 m left of centre and again (the same size in the world) at ``far_m`` to the
    right, behind her, a wall with lights at 8 m: the second person must be blurred by her own CoC."""
    person = astronaut_texture()
    return [wall(8.0), card(far_m, shifted(person, 0.12 * far_m * 1000)), card(SUBJECT_M, shifted(person, -170.0))]


def run_chain(photo: torch.Tensor, depth_m: torch.Tensor, f_number: float, focus_m: float = 0.0):
    """The chain with auto focus (``focus_m`` 0) or focused at ``focus_m`` (the artist refocusing)."""
    lens = LensSettings(85.0, f_number, focus_m)
    img = photo[None]
    t = time.perf_counter()
    dm, matte = estimate_depth(img, EstimateSettings())
    t_depth = time.perf_counter() - t
    chain = render_lens_bokeh(img, dm.metres, lens, depth_meta=dm.meta, layer_alpha=dm.layer_alpha)
    oracle = render_lens_bokeh(img, depth_m[None], lens, focus_mask=None, depth_meta={"eye_xy": dm.meta.get("eye_xy")})
    return chain, oracle, dm, matte, t_depth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--f-number", type=float, default=1.8)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="keep the ray-traced scenes here (reused by later runs)")
    ap.add_argument(
        "--no-people-ground", action="store_true", help="no ground from the people's contacts (layout.PEOPLE_ON_GROUND)"
    )
    a = ap.parse_args()
    from portraitos.engine.depth import layout

    layout.PEOPLE_ON_GROUND = not a.no_people_ground
    torch.set_num_threads(max(1, torch.get_num_threads()))
    # name: (planes, where the exact lens focuses, what the chain is told: 0 = auto focus, else metres)
    scenes = {
        "person, wall 6 m": (person_scene(6.0), SUBJECT_M, 0.0),
        "person, wall 12 m": (person_scene(12.0), SUBJECT_M, 0.0),
        "ellipse head (no face), wall 6 m": (scene_point_lights(), 2.0, 0.0),
        "person, wall 6 m, refocused on the wall": (person_scene(6.0), 6.0, 6.0),
        "two people (2.2 m, 4.4 m), wall 8 m": (two_person_scene(), SUBJECT_M, 0.0),
    }
    rows = []
    for name, (planes, focus_m, chain_focus_m) in scenes.items():
        lens = ThinLens(85.0, a.f_number, focus_m)
        cached = None
        if a.cache is not None:
            a.cache.mkdir(parents=True, exist_ok=True)
            cached = a.cache / f"{name.replace(' ', '_').replace(',', '').replace('(', '').replace(')', '')}.pt"
        if cached is not None and cached.exists():
            photo, depth, exact = torch.load(cached, weights_only=True)
        else:
            lin, depth = render_pinhole(planes, lens, H, W, pixel_samples=8)
            photo = to_photo(lin)
            exact = to_photo(render_reference(planes, lens, H, W, samples=a.samples))
            if cached is not None:
                torch.save((photo, depth, exact), cached)
        chain, oracle, dm, matte, t_depth = run_chain(photo, depth, a.f_number, chain_focus_m)
        r = (
            name,
            psnr(chain.image[0], exact),
            psnr(photo, exact),
            psnr(oracle.image[0], exact),
            chain.focus_distance_m[0],
            dm.meta.get("subject_distance_from", "?"),
            t_depth,
        )
        rows.append(r)
        print(
            f"{name}: chain {r[1]:.2f} dB | unblurred input {r[2]:.2f} dB | true depth {r[3]:.2f} dB | focus "
            f"{r[4]:.2f} m (true {focus_m} m), distance from {r[5]} | DepthEstimate {r[6]:.2f} s",
            flush=True,
        )
        if a.save is not None:
            from PIL import Image

            a.save.mkdir(parents=True, exist_ok=True)
            tile = torch.cat([photo, chain.image[0], exact, matte[0, ..., None].expand(-1, -1, 3)], 1)
            slug = name.split(",")[0].replace(" ", "_") + f"_{int(planes[0].point[2] / 1000)}m"
            slug += "_refocused" if chain_focus_m else ""
            Image.fromarray((tile.clamp(0, 1) * 255).round().byte().numpy()).save(a.save / f"{slug}.png")
    n = len(rows)
    print(
        f"mean over {n} scenes: chain {sum(r[1] for r in rows) / n:.2f} dB, unblurred input "
        f"{sum(r[2] for r in rows) / n:.2f} dB, true depth {sum(r[3] for r in rows) / n:.2f} dB"
    )


if __name__ == "__main__":
    main()
