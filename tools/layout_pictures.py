"""The docs' pictures of the background's own depth (engine/depth/layout.py).

    .venv/bin/python tools/layout_pictures.py [--out docs] [--group PATH] [--scenes DIR]

``scene_layout_real_photos.jpg``: one row per photo (the sample, InsightFace's ``t1.jpg``, and a group
photo: ``--group``, by default the public-domain Solvay conference 1927 photo that the ``scrfd`` sdist
ships, where ``scripts`` put it in ``.real-models/photos``): the photo, DepthEstimate's preview (near =
white), f/1.8 on the eyes, f/1.8 on the background (85 mm, full frame, the weight-free chain); under each
row the read-out's background line. ``scene_layout_validation.jpg`` (with ``--scenes``, the folder
``benchmarks/bench_receding.py --save`` wrote): per receding scene, the photo, the chain, the exact
render and the chain's depth preview.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from portraitos.engine.depth import EstimateSettings, depth_preview, estimate_depth
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.photos import photos

REPO = Path(__file__).resolve().parents[1]
CELL = 300  # px, the long side of a cell


def load(path: Path, long_side: int) -> torch.Tensor:
    from PIL import Image

    img = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).float() / 255
    H, W = img.shape[:2]
    s = long_side / max(H, W)
    if s < 1:
        img = F.interpolate(img.permute(2, 0, 1)[None], size=(round(H * s), round(W * s)), mode="area")[0]
        img = img.permute(1, 2, 0)
    return img.contiguous()


def fit(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``img [H,W,3]`` scaled into an ``h×w`` cell (grey margins)."""
    H, W = img.shape[:2]
    s = min(h / H, w / W)
    small = F.interpolate(img.permute(2, 0, 1)[None], size=(round(H * s), round(W * s)), mode="area")[0]
    out = torch.full((3, h, w), 0.5)
    y0, x0 = (h - small.shape[1]) // 2, (w - small.shape[2]) // 2
    out[:, y0 : y0 + small.shape[1], x0 : x0 + small.shape[2]] = small
    return out.permute(1, 2, 0)


def caption(text: str, w: int, h: int = 22) -> torch.Tensor:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (w, h), (255, 255, 255))
    plain = (
        text.replace("ç", "c").replace("²", "^2").replace("–", "-").replace("∞", "inf").replace("×", "x")
    )  # the default font's glyphs
    ImageDraw.Draw(im).text((4, 4), plain, fill=(0, 0, 0))
    return torch.from_numpy(np.asarray(im)).float() / 255


def row(photo: torch.Tensor) -> tuple[torch.Tensor, str]:
    dm, matte = estimate_depth(photo[None], EstimateSettings())
    preview = depth_preview(dm.metres)[0]
    free = matte[0] < 0.1
    bg_m = float(dm.metres[0][free].median()) if bool(free.any()) else float(dm.metres.max())
    cells = [photo, preview]
    for focus in (0.0, bg_m):
        lens = LensSettings(85.0, 1.8, focus)
        out = render_lens_bokeh(photo[None], dm.metres, lens, depth_meta=dm.meta, layer_alpha=dm.layer_alpha)
        cells.append(out.image[0])
    H, W = photo.shape[:2]
    h, w = (CELL, round(CELL * W / H)) if H >= W else (round(CELL * H / W), CELL)
    line = dm.meta.get("layout", {}).get("summary", "")
    return torch.cat([fit(c, h, w) for c in cells], 1), line


def to_jpeg(image: torch.Tensor, path: Path, quality: int = 88) -> None:
    from PIL import Image

    Image.fromarray((image.clamp(0, 1) * 255).round().byte().numpy()).save(path, quality=quality, optimize=True)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    ap.add_argument("--group", type=Path, default=REPO / ".real-models" / "photos" / "solvay_conference_1927.jpg")
    ap.add_argument("--scenes", type=Path, default=None)
    ap.add_argument("--long-side", type=int, default=1024)
    a = ap.parse_args()
    shipped = photos(a.long_side)
    inputs = {"sample": shipped["astronaut"], "t1.jpg": shipped["t1"]}
    if a.group.is_file():
        inputs[a.group.name] = load(a.group, a.long_side)
    rows = []
    width = 0
    for name, photo in inputs.items():
        strip, line = row(photo)
        print(f"{name}: {line}", flush=True)
        rows.append((strip, f"{name}: {line}"))
        width = max(width, strip.shape[1])
    sheet = []
    for strip, text in rows:
        pad = torch.full((strip.shape[0], width - strip.shape[1], 3), 1.0)
        sheet += [torch.cat([strip, pad], 1), caption(text, width)]
    a.out.mkdir(parents=True, exist_ok=True)
    to_jpeg(torch.cat(sheet, 0), a.out / "scene_layout_real_photos.jpg")
    if a.scenes is not None:
        from PIL import Image

        tiles = [
            torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))).float() / 255
            for p in sorted(a.scenes.glob("*.png"))
        ]
        if tiles:
            w = max(t.shape[1] for t in tiles)
            scaled = [fit(t, round(t.shape[0] * 1200 / w), 1200) for t in tiles]
            to_jpeg(torch.cat(scaled, 0), a.out / "scene_layout_validation.jpg")


if __name__ == "__main__":
    main()
