"""Time and memory of DepthEstimate's weight-free portrait prior at 1 MP, 4K and 8K.

    .venv/bin/python benchmarks/bench_prior_speed.py [--sizes 1MP,4K,8K]

The astronaut portrait resized to the frame's height and padded to its width (edge pixels). The
first call at 1 MP warms up (model loading) and is not counted. Run it in an older checkout too to
compare priors on the same machine (the script uses only ``estimate_depth``).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1MP,4K,8K")
    a = ap.parse_args()
    s = EstimateSettings(background_distance_m=6.0)
    estimate_depth(frame(*SIZES["1MP"]), s)  # warm-up
    for label in a.sizes.split(","):
        h, w = SIZES[label]
        img = frame(h, w)
        t, mem, (dm, _) = measure(lambda: estimate_depth(img, s))
        print(
            f"{label} {w}x{h}: portrait prior {t:.2f} s, peak RSS growth {mem / 2**20:.0f} MB "
            f"(distance from: {dm.meta.get('subject_distance_from')}; matte: {dm.meta.get('matte', 'GrabCut')})",
            flush=True,
        )


if __name__ == "__main__":
    main()
