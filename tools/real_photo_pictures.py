"""The docs' real-photo pictures: hair over the background before/after, and every shipped photo
through the weight-free chain at three apertures, focused on the eyes and on the background.

    .venv/bin/python tools/real_photo_pictures.py [--out docs]

Writes ``hair_layer_before_after.jpg`` (crops at 2×: photo, the previous chain: the guided filter's
matte and one depth per pixel, now: matted hair and the people as a layer of their own) and
``refocus_people_before_after.jpg`` (the sample at f/1.2 focused on the background: the photo, what
clips on her rebuilt as lights, now: only lights off the people rebuilt), ``held_round_before_after.jpg``
(the sample at f/1.2 on the eyes, the helmet she holds: photo, flat at her hand's depth, round about
it) and ``real_photos_sheet.jpg``
(one row per photo: the photo, f/1.2, f/1.8, f/2.8 on the eyes, then the same on the background; 85 mm,
full frame, DepthEstimate's portrait prior).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

import portraitos.engine.lens.renderer as renderer
import portraitos.engine.people.relief as relief_of
import portraitos.engine.people.subject_matte as subject_matte
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.validation.photos import photos

REPO = Path(__file__).resolve().parents[1]
F_NUMBERS = (1.2, 1.8, 2.8)
THUMB = 200  # px, the side of the sheet's square cells
# (photo, f-number, focus: 0 = eyes / "bg", crop y0, y1, x0, x1 at 768 px long side)
CROPS = (
    ("astronaut", 1.2, 0.0, (0, 190, 120, 390)),
    ("astronaut", 1.2, "bg", (0, 190, 120, 390)),
    ("t1", 1.8, 0.0, (40, 230, 320, 590)),
)


def background_m(depth: torch.Tensor, matte: torch.Tensor) -> float:
    """The background's median distance (m), where the matte holds nobody."""
    free = matte < 0.1
    return float(depth[free].median()) if bool(free.any()) else float(depth.max())


def chain(photo: torch.Tensor, f_number: float, focus, matting: bool) -> torch.Tensor:
    """``[H,W,3]``: the photo through DepthEstimate (prior) and LensBokeh; ``focus`` 0 = eyes, "bg"."""
    subject_matte.MATTING = matting
    try:
        dm, matte = estimate_depth(photo[None], EstimateSettings())
    finally:
        subject_matte.MATTING = True
    focus_m = background_m(dm.metres[0], matte[0]) if focus == "bg" else float(focus)
    layer = dm.layer_alpha if matting else None
    lens = LensSettings(85.0, f_number, focus_m)
    return render_lens_bokeh(photo[None], dm.metres, lens, depth_meta=dm.meta, layer_alpha=layer).image[0]


def lights_rebuilt_on_people(photo: torch.Tensor, f_number: float) -> torch.Tensor:
    """``[H,W,3]``: the chain focused on the background with the previous rule, where what clipped on a
    person was rebuilt as a light like anything else (the renderer's rebuild called without the people)."""
    rebuild = renderer.rebuild_highlights
    renderer.rebuild_highlights = lambda lin, radius, hl, display_max, people=None: rebuild(
        lin, radius, hl, display_max
    )
    try:
        return chain(photo, f_number, "bg", True)
    finally:
        renderer.rebuild_highlights = rebuild


def held_flat(photo: torch.Tensor, f_number: float) -> torch.Tensor:
    """``[H,W,3]``: the chain focused on the eyes with what she holds flat at her hand's depth (the body
    relief called without the picture's scale), as before held objects were round."""
    relief = relief_of.body_relief
    relief_of.body_relief = lambda pose, person, height, width, metres_per_px=0.0: relief(pose, person, height, width)
    try:
        return chain(photo, f_number, 0.0, True)
    finally:
        relief_of.body_relief = relief


def to_jpeg(image: torch.Tensor, path: Path, quality: int = 88) -> None:
    from PIL import Image

    Image.fromarray((image.clamp(0, 1) * 255).round().byte().numpy()).save(path, quality=quality)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def zoom(image: torch.Tensor, box: tuple[int, int, int, int], factor: int = 2) -> torch.Tensor:
    y0, y1, x0, x1 = box
    part = image[y0:y1, x0:x1].permute(2, 0, 1)[None]
    return F.interpolate(part, scale_factor=factor, mode="nearest")[0].permute(1, 2, 0)


def thumb(image: torch.Tensor) -> torch.Tensor:
    """``image`` fitted into a white ``THUMB``-pixel square (aspect kept), ``[THUMB,THUMB,3]``."""
    h, w, _ = image.shape
    k = THUMB / max(h, w)
    size = (max(1, round(h * k)), max(1, round(w * k)))
    small = F.interpolate(image.permute(2, 0, 1)[None], size=size, mode="area")[0]
    top, left = (THUMB - size[0]) // 2, (THUMB - size[1]) // 2
    box = (left, THUMB - size[1] - left, top, THUMB - size[0] - top)
    return F.pad(small, box, value=1.0).permute(1, 2, 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shots = photos(768)
    gap = 6
    rows = []
    for name, f_number, focus, box in CROPS:
        photo = shots[name]
        cells = [
            zoom(photo, box),
            zoom(chain(photo, f_number, focus, False), box),
            zoom(chain(photo, f_number, focus, True), box),
        ]
        rows.append(torch.cat([torch.cat([c, torch.ones(c.shape[0], gap, 3)], 1) for c in cells], 1)[:, :-gap])
    width = max(r.shape[1] for r in rows)
    rows = [F.pad(r.permute(2, 0, 1), (0, width - r.shape[1], 0, gap), value=1.0).permute(1, 2, 0) for r in rows]
    to_jpeg(torch.cat(rows, 0)[:-gap], args.out / "hair_layer_before_after.jpg")

    sample = shots["astronaut"]
    cells = [sample, lights_rebuilt_on_people(sample, 1.2), chain(sample, 1.2, "bg", True)]
    row = torch.cat([torch.cat([c, torch.ones(c.shape[0], gap, 3)], 1) for c in cells], 1)[:, :-gap]
    to_jpeg(row, args.out / "refocus_people_before_after.jpg")

    box = (300, 512, 250, 512)
    cells = [zoom(sample, box), zoom(held_flat(sample, 1.2), box), zoom(chain(sample, 1.2, 0.0, True), box)]
    row = torch.cat([torch.cat([c, torch.ones(c.shape[0], gap, 3)], 1) for c in cells], 1)[:, :-gap]
    to_jpeg(row, args.out / "held_round_before_after.jpg")

    sheet = []
    for name, photo in shots.items():
        dm, matte = estimate_depth(photo[None], EstimateSettings())
        bg = background_m(dm.metres[0], matte[0])
        cells = [thumb(photo)]
        for focus_m in (0.0, bg):
            for f_number in F_NUMBERS:
                lens = LensSettings(85.0, f_number, focus_m)
                out = render_lens_bokeh(photo[None], dm.metres, lens, depth_meta=dm.meta, layer_alpha=dm.layer_alpha)
                cells.append(thumb(out.image[0]))
        sheet.append(torch.cat([torch.cat([c, torch.ones(THUMB, gap, 3)], 1) for c in cells], 1)[:, :-gap])
        print(f"{name}: background {bg:.2f} m, people {dm.meta.get('people_found', 0)}")
    width = max(r.shape[1] for r in sheet)
    sheet = [F.pad(r.permute(2, 0, 1), (0, width - r.shape[1], 0, gap), value=1.0).permute(1, 2, 0) for r in sheet]
    to_jpeg(torch.cat(sheet, 0)[:-gap], args.out / "real_photos_sheet.jpg", quality=82)


if __name__ == "__main__":
    main()
