"""Time and memory of DepthEstimate's weight-free portrait prior at 1 MP, 4K and 8K.

    .venv/bin/python benchmarks/bench_prior_speed.py [--sizes 1MP,4K,8K] [--image PHOTO] [--repeat N]

The astronaut portrait (one person) resized to the frame's height and padded to its width (edge
pixels); with ``--image`` a photo of your own (a group photo: InsightFace's ``data/images/t1.jpg``)
resized to the frame's number of pixels, keeping its aspect. The first call at 1 MP warms up (model
loading) and is not counted; with ``--repeat`` the fastest of N runs is reported (a shared CPU). Run
it in an older checkout too to compare priors on the same machine (the script uses only
``estimate_depth``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from skimage import data

from portraitos.benchmarks.bench_bokeh import measure
from portraitos.engine.depth import EstimateSettings, estimate_depth

REPO = Path(__file__).resolve().parents[1]

SIZES = {"1MP": (864, 1152), "4K": (2160, 3840), "8K": (4320, 7680)}


def frame(h: int, w: int) -> torch.Tensor:
    astro = torch.from_numpy(data.astronaut()).float().permute(2, 0, 1)[None] / 255
    img = F.interpolate(astro, size=(h, h), mode="bilinear", align_corners=False)
    img = F.pad(img, ((w - h) // 2, (w - h) - (w - h) // 2, 0, 0), mode="replicate")
    return img.permute(0, 2, 3, 1).contiguous()


def photo_frame(path: Path, h: int, w: int) -> torch.Tensor:
    """The photo at ``path`` resized to about ``h × w`` pixels in all, its aspect kept, ``[1,H,W,3]``."""
    import numpy as np
    from PIL import Image

    rgb = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).float().permute(2, 0, 1)[None] / 255
    s = ((h * w) / (rgb.shape[2] * rgb.shape[3])) ** 0.5
    size = (round(rgb.shape[2] * s), round(rgb.shape[3] * s))
    return F.interpolate(rgb, size=size, mode="bilinear", antialias=True).permute(0, 2, 3, 1).contiguous()


def timing_args(repeat: int = 1) -> argparse.Namespace:
    """The timing benchmarks' shared options: ``--sizes`` (of ``SIZES``), ``--repeat``, ``--image``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1MP,4K")
    ap.add_argument("--repeat", type=int, default=repeat, help="report the fastest of this many runs")
    ap.add_argument("--image", type=Path, default=None, help="a photo instead of the astronaut")
    return ap.parse_args()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1MP,4K,8K")
    ap.add_argument("--image", type=Path, default=None, help="a photo instead of the astronaut")
    ap.add_argument("--repeat", type=int, default=1, help="report the fastest of this many runs")
    a = ap.parse_args()
    s = EstimateSettings(background_distance_m=6.0)

    def picture(h: int, w: int) -> torch.Tensor:
        return frame(h, w) if a.image is None else photo_frame(a.image, h, w)

    estimate_depth(picture(*SIZES["1MP"]), s)  # warm-up
    for label in a.sizes.split(","):
        h, w = SIZES[label]
        img = picture(h, w)
        runs = [measure(lambda: estimate_depth(img, s)) for _ in range(max(1, a.repeat))]
        t, mem, (dm, _) = min(runs, key=lambda r: r[0])
        people = dm.meta.get("people") or []
        print(
            f"{label} {img.shape[2]}x{img.shape[1]}: portrait prior {t:.2f} s (runs: "
            f"{', '.join(f'{r[0]:.2f}' for r in runs)}), peak RSS growth {mem / 2**20:.0f} MB "
            f"(distance from: {dm.meta.get('subject_distance_from')}; matte: {dm.meta.get('matte', 'GrabCut')}; "
            f"people: {len(people) or dm.meta.get('faces_found', 0)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
