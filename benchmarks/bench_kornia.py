"""Kornia against the engine's own code, for the operations where kornia has an equivalent.

    .venv/bin/python benchmarks/bench_kornia.py [--size 2048x3072] [--repeat 3]

For each operation: the best time of ``--repeat`` runs of kornia's version and of the project's own
code (the engine's, or for the guided filter the box-sum version kornia replaced, kept in
``validation.baselines``), their ratio (kornia ÷ own; < 1 means kornia is faster) and the largest
difference between the two results, all in one process on the same inputs. The engine uses kornia
where it is as good or better and keeps its own code elsewhere; CONTRIBUTING.md lists which.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import kornia
import numpy as np
import torch
import torch.nn.functional as F

from portraitos.engine.core.box_filter import box_mean
from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.core.guided_filter import guided_filter
from portraitos.validation.baselines import box_sum_guided_filter

REPO = Path(__file__).resolve().parents[1]


def best_time(fn, repeat: int):
    fn()  # warm-up: first-call costs (allocator, kernel selection) are not the operation's
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare(name: str, ours, theirs, repeat: int, rows: dict) -> None:
    t_ours, a = best_time(ours, repeat)
    t_k, b = best_time(theirs, repeat)
    diff = float((a.float() - b.float()).abs().max())
    rows[name] = {
        "own_s": round(t_ours, 4),
        "kornia_s": round(t_k, 4),
        "kornia/own": round(t_k / t_ours, 2),
        "max_abs_diff": float(f"{diff:.3g}"),
    }
    print(
        f"{name:44s} own {t_ours:8.4f} s  kornia {t_k:8.4f} s  ratio {t_k / t_ours:6.2f}  max|diff| {diff:.3g}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2048x3072", help="HxW of the full-resolution inputs")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    H, W = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    image = torch.rand(1, H, W, 3)
    guide = image.permute(0, 3, 1, 2).contiguous()
    src = torch.rand(1, 1, H, W)
    rows: dict = {}

    # guided filter, colour guide, subsampled ("fast guided filter"), as DepthEstimate's refinement runs it
    r = max(2, round(0.01 * max(H, W)))
    s = max(1, r // 4)
    compare(
        f"guided filter r={r} subsample={s}",
        lambda: box_sum_guided_filter(guide, src, r, 1e-3, subsample=s),
        lambda: guided_filter(guide, src, r, 1e-3, subsample=s),
        args.repeat,
        rows,
    )
    # box mean over a (2r+1)^2 window
    for rr in (4, 32):
        compare(
            f"box mean r={rr} (3 channels)",
            lambda: box_mean(guide, rr),
            lambda: kornia.filters.box_blur(guide, 2 * rr + 1, border_type="replicate", separable=True),
            args.repeat,
            rows,
        )
    # local depth range at a network's resolution (joint bilateral upsampling's edge confidence)
    low = torch.rand(1, 1, 518, 777)
    k3 = torch.ones(3, 3)
    compare(
        "local range 3x3 at 518x777",
        lambda: F.max_pool2d(low, 3, 1, 1) + F.max_pool2d(-low, 3, 1, 1),
        lambda: kornia.morphology.gradient(low, k3),
        args.repeat,
        rows,
    )
    # sRGB decode of an IMAGE (channels last; kornia takes channels first: a permuted view, no copy)
    compare(
        "sRGB -> linear (IMAGE)",
        lambda: srgb_to_linear(image),
        lambda: kornia.color.rgb_to_linear_rgb(image.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),
        args.repeat,
        rows,
    )
    # aligned face crops (InsightFace's norm_crop: a similarity warp with OpenCV)
    from insightface.utils import face_align

    photo = (image[0].numpy() * 255).astype(np.uint8)
    kps = np.array([[0.40, 0.40], [0.60, 0.40], [0.50, 0.52], [0.42, 0.62], [0.58, 0.62]], np.float32)
    kps *= np.array([W, H], np.float32)
    M = face_align.estimate_norm(kps, 224)
    photo_t = torch.from_numpy(photo).permute(2, 0, 1)[None].float()
    M_t = torch.from_numpy(M).float()[None]
    compare(
        "face crop 224 (similarity warp)",
        lambda: torch.from_numpy(face_align.norm_crop(photo, kps, 224)).float(),
        lambda: (
            kornia.geometry.transform.warp_affine(photo_t, M_t, (224, 224), align_corners=True)[0]
            .permute(1, 2, 0)
            .round()
        ),
        args.repeat,
        rows,
    )
    out = REPO / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "kornia.json").write_text(
        json.dumps({"size": [H, W], "torch_threads": torch.get_num_threads(), "rows": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
