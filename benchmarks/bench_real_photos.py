"""Real photos through the weight-free chain: does a subject thrown out of focus keep its colour, and does
LightingTint leave a seam at the matte's edge?

    .venv/bin/python benchmarks/bench_real_photos.py [--save out/real_photos] [--long-side 768] [--only t1 ...]

Photos: skimage's astronaut (the shipped sample) and every picture InsightFace's package ships
(``insightface/data/images``: a group photo, a portrait, masked faces). Each goes through DepthEstimate
(portrait prior) and LensBokeh at 85 mm f/1.2, f/1.8 and f/2.8, focused on the eyes (auto) and on the
background (its median distance).

- Subject colour (ΔE2000, CIELAB of the mean sRGB): the mean colour of the subject's interior (matte
  > 0.9, eroded by the subject's largest CoC radius, so only the subject's own light lands there) in the
  input against the render focused on the background. The lens only redistributes light, so a
  defocused diffuse subject keeps its mean colour; the same render without any highlight rebuild is
  the baseline run in the same process (its ΔE is what the blur alone does).
- Duplicated features (a ghost face where a sharp and a blurred copy overlap): the face finder
  (``find_faces_all``) run again on each render focused on the eyes; every face it finds must be one of
  the input's (eye centres within a third of a face width), so an extra face is a ghost. Faces the blur
  hides are counted apart.
- LightingTint seam (warm cinematic, strength 1, key by the depth's subject weight): the largest
  ΔE2000 between horizontally or vertically neighbouring pixels, inside a band around the matte's edge,
  of the relit image, minus the same of the input (the photo's own edges). A seam shows as a step
  in colour along the outline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from portraitos.engine.core.colour import linear_to_srgb, srgb_to_linear
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.lens import HighlightRebuild
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh
from portraitos.engine.lighting import LightingParams, relight
from portraitos.engine.people.face_finding import find_faces_all
from portraitos.validation.photos import photos

F_NUMBERS = (1.2, 1.8, 2.8)


def lab(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(np.clip(rgb, 0, 1))


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from skimage.color import deltaE_ciede2000

    return deltaE_ciede2000(lab(a), lab(b))


def to_srgb(rgb_linear: torch.Tensor) -> np.ndarray:
    return linear_to_srgb(rgb_linear.clamp(0, 1)).numpy()


def colour_difference(a: np.ndarray, b: np.ndarray) -> float:
    """ΔE2000 between two sRGB colours ``[3]``."""
    return float(delta_e(a[None, None], b[None, None])[0, 0])


def disc_blur(lin: torch.Tensor, r: int) -> torch.Tensor:
    """``lin [H,W,3]`` averaged over a disc of radius ``r`` px (zero-padded, normalised by coverage)."""
    if r <= 0:
        return lin
    yy, xx = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
    k = ((yy**2 + xx**2) <= r * r).float()[None, None]
    x = lin.permute(2, 0, 1)[:, None]
    num = F.conv2d(x, k, padding=r)
    den = F.conv2d(torch.ones_like(x[:1]), k, padding=r)
    return (num / den)[:, 0].permute(1, 2, 0)


def erode(mask: torch.Tensor, r: int) -> torch.Tensor:
    """Binary erosion of ``mask [H,W]`` bool by a (2r+1)² square."""
    if r <= 0:
        return mask
    m = (~mask).float()[None, None]
    return F.max_pool2d(m, 2 * r + 1, stride=1, padding=r)[0, 0] < 0.5


def ghost_faces(photo_faces: list, render: torch.Tensor) -> tuple[int, int]:
    """(faces in ``render [H,W,3]`` that are none of ``photo_faces``: ghosts, faces of the photo not found
    in the render: hidden by the blur)."""
    found = find_faces_all(render)

    def same(a, b) -> bool:
        width = 2.0 * abs(float(a.eye_centres[1, 0] - a.eye_centres[0, 0])) + 1.0  # about a face width
        return float((a.eye_centres.mean(0) - b.eye_centres.mean(0)).norm()) < width / 3

    extra = sum(1 for f in found if not any(same(p, f) for p in photo_faces))
    hidden = sum(1 for p in photo_faces if not any(same(p, f) for f in found))
    return extra, hidden


def seam(photo: torch.Tensor, relit: torch.Tensor, matte: torch.Tensor) -> float:
    """Largest neighbour-to-neighbour ΔE2000 in a band around the matte's edge, relit minus input."""
    edge = (matte > 0.5).float()[None, None]
    dilated, eroded = F.max_pool2d(edge, 9, 1, 4), -F.max_pool2d(-edge, 9, 1, 4)
    band = (dilated - eroded)[0, 0] > 0.5
    steps = []
    for img in (photo, relit):
        a = img.numpy()
        dx = delta_e(a[:, 1:], a[:, :-1])
        dy = delta_e(a[1:], a[:-1])
        bx, by = band[:, 1:].numpy(), band[1:].numpy()
        if not bx.any() or not by.any():
            return float("nan")
        steps.append(max(float(np.percentile(dx[bx], 99.5)), float(np.percentile(dy[by], 99.5))))
    return steps[1] - steps[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--long-side", type=int, default=768)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--only", nargs="*", help="photo names (default: all)")
    a = ap.parse_args()
    rows = []
    for name, photo in photos(a.long_side).items():
        if a.only and name not in a.only:
            continue
        dm, matte = estimate_depth(photo[None], EstimateSettings())
        depth, m = dm.metres[0], matte[0]
        people = dm.meta.get("people", [])
        background = float(depth[m < 0.1].median()) if bool((m < 0.1).any()) else float(depth.max())
        line = [f"{name} ({photo.shape[1]}×{photo.shape[0]}, faces {dm.meta.get('faces_found', '?')}"]
        if people:
            line.append(", people at " + ", ".join(f"{p['distance_m']:.2f} m" for p in people))
        line.append(f", background {background:.2f} m):")
        print("".join(line), flush=True)
        photo_faces = find_faces_all(photo)
        for f_number in F_NUMBERS:
            for target, focus_m in (("eyes", 0.0), ("background", background)):
                renders = []
                for hl in (HighlightRebuild(), HighlightRebuild(boost=0.0)):
                    renders.append(
                        render_lens_bokeh(
                            photo[None],
                            depth[None],
                            LensSettings(85.0, f_number, focus_m),
                            highlights=hl,
                            depth_meta=dm.meta,
                            layer_alpha=dm.layer_alpha,
                        )
                    )
                if target == "eyes":
                    extra, hidden = ghost_faces(photo_faces, renders[0].image[0])
                    rows.append((name, "ghosts", extra, hidden))
                    print(
                        f"  f/{f_number} on the eyes: faces found again {len(photo_faces) - hidden} of "
                        f"{len(photo_faces)}, extra (ghost) faces {extra}",
                        flush=True,
                    )
                if target == "background":
                    core = m > 0.9
                    coc = renders[0].coc_px[0]
                    r = int(float(coc[core].abs().max()) / 2 + 1) if bool(core.any()) else 0
                    interior = erode(core, r)
                    if int(interior.sum()) < 50:
                        interior = erode(core, max(1, r // 4))
                    if int(interior.sum()) == 0:
                        print(f"  f/{f_number} background: no subject interior", flush=True)
                        continue
                    # what energy conservation gives there: the input spread over the subject's disc
                    # (linear light); the interior's disc-neighbourhood lies inside the subject
                    want = to_srgb(disc_blur(srgb_to_linear(photo), r)[interior].mean(0))
                    plain = to_srgb(srgb_to_linear(photo)[interior].mean(0))
                    got = [to_srgb(srgb_to_linear(out.image[0])[interior].mean(0)) for out in renders]
                    de = [colour_difference(want, g) for g in got] + [colour_difference(plain, got[0])]
                    rows.append((name, f_number, de[0], de[1]))
                    print(
                        f"  f/{f_number} focus {focus_m:.2f} m: subject mean colour ΔE2000 {de[0]:.2f} against the "
                        f"input spread over the disc ({de[2]:.2f} against the input's plain mean; no highlight "
                        f"rebuild: {de[1]:.2f}; interior {int(interior.sum())} px, eroded {r} px)",
                        flush=True,
                    )
                if a.save is not None:
                    from PIL import Image

                    a.save.mkdir(parents=True, exist_ok=True)
                    tile = torch.cat([photo, renders[0].image[0]], 1)
                    Image.fromarray((tile.clamp(0, 1) * 255).round().byte().numpy()).save(
                        a.save / f"{name}_f{f_number}_{target}.jpg", quality=90
                    )
        relit, _ = relight(photo[None], LightingParams("warm cinematic"), depth_m=depth[None])
        s = seam(photo, relit[0], m)
        if s != s:  # no matte edge
            continue
        print(f"  LightingTint warm cinematic: seam step {s:.2f} ΔE2000 over the photo's own edges", flush=True)
        rows.append((name, "seam", s, 0.0))
    de_rows = [r for r in rows if r[1] not in ("seam", "ghosts")]
    ghosts = [r for r in rows if r[1] == "ghosts"]
    print(
        f"ghost faces over {len(ghosts)} renders on the eyes: {sum(r[2] for r in ghosts)} extra, "
        f"{sum(r[3] for r in ghosts)} of the photos' faces hidden by the blur"
    )
    if de_rows:
        worst = max(de_rows, key=lambda r: r[2])
        print(
            f"subject colour thrown out of focus: mean ΔE2000 {sum(r[2] for r in de_rows) / len(de_rows):.2f}, "
            f"worst {worst[2]:.2f} ({worst[0]} f/{worst[1]}); without rebuild mean "
            f"{sum(r[3] for r in de_rows) / len(de_rows):.2f}"
        )
    seams = [r[2] for r in rows if r[1] == "seam"]
    print(f"LightingTint seam step: mean {sum(seams) / len(seams):.2f}, worst {max(seams):.2f} ΔE2000")


if __name__ == "__main__":
    main()
