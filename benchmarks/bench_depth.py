"""DepthEstimate speed and memory at large sizes, and edge refinement against ground truth.

    .venv/bin/python benchmarks/bench_depth.py

* Refinement quality: Middlebury Motorcycle true disparity, degraded (÷8, 3×3 blur), brought back to
  full size by bilinear upsampling (baseline) and by the image-guided joint bilateral upsampling.
* Speed/memory: the weight-free portrait prior and a tiny Depth Anything V2 (real architecture,
  random weights: network cost is not representative, the full-resolution work is) on the
  astronaut portrait resized to 1080p, 4K and 8K; bilinear upsampling as the baseline.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from skimage import data

from portraitos.benchmarks.bench_bokeh import measure
from portraitos.engine.depth import DepthNetwork, EstimateSettings, estimate_depth, joint_bilateral_upsample, upsample
from portraitos.testing.tiny_depth_models import tiny_depth_anything
from portraitos.validation.metrics import edge_error
from portraitos.validation.samples import fill_from_nearest, motorcycle_depth_m

REPO = Path(__file__).resolve().parents[1]


def refinement_quality() -> None:
    left, _, disp = data.stereo_motorcycle()
    t = 1.0 / torch.from_numpy(fill_from_nearest(motorcycle_depth_m(disp)))
    H, W = t.shape
    low = F.avg_pool2d(t[None, None], 8)
    low = F.avg_pool2d(F.pad(low, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]
    guide = torch.from_numpy(left).float()[None] / 255
    tb, _, plain = measure(lambda: upsample(low, (H, W))[0])
    tj, _, ref = measure(lambda: joint_bilateral_upsample(low, guide)[0])
    print(
        f"motorcycle 741x500, truth ÷8 + blur: disparity error near depth edges {edge_error(plain, t):.4f} "
        f"(bilinear) -> {edge_error(ref, t):.4f} (guided JBU); whole frame {float((plain - t).abs().mean()):.4f} "
        f"-> {float((ref - t).abs().mean()):.4f} 1/m; time {tj * 1000:.0f} ms vs {tb * 1000:.1f} ms"
    )


def speed() -> None:
    astro = torch.from_numpy(data.astronaut()).float().permute(2, 0, 1)[None] / 255
    net = DepthNetwork("tiny-da", "depth_anything", False, tiny_depth_anything(), 518)
    for label, (h, w) in (("1080p", (1080, 1920)), ("4K", (2160, 3840)), ("8K", (4320, 7680))):
        img = F.interpolate(astro, size=(h, h), mode="bilinear", align_corners=False)
        img = (
            F.pad(img, ((w - h) // 2, (w - h) - (w - h) // 2, 0, 0), mode="replicate").permute(0, 2, 3, 1).contiguous()
        )
        s = EstimateSettings(background_distance_m=6.0)
        tp, mp, _ = measure(lambda: estimate_depth(img, s))
        tn, mn, _ = measure(lambda: estimate_depth(img, s, net))
        tr, mr, _ = measure(lambda: estimate_depth(img, EstimateSettings(refine_edges=False), net))
        print(
            f"{label} {w}x{h}: portrait prior {tp:.2f} s / {mp / 2**20:.0f} MB peak growth; tiny DA-V2 + JBU "
            f"{tn:.2f} s / {mn / 2**20:.0f} MB; tiny DA-V2 + bilinear (baseline) {tr:.2f} s / {mr / 2**20:.0f} MB; "
            f"refinement costs {tn / tr:.1f}x the baseline"
        )


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    refinement_quality()
    speed()
