"""Subject matte quality of DepthEstimate's portrait prior.

    .venv/bin/python benchmarks/bench_matte.py --scenes out/chain_scenes

* Known truth: the ray-traced person scenes of bench_portrait_chain.py (run it first with --cache):
  IoU of the matte (> 0.5) with the person and what she holds, the share of the red disc behind her
  and of the held object inside the matte.
* Real photos (astronaut, InsightFace's samples): boundary agreement, the share of the matte's
  outline (where it crosses 0.5) lying within 2 px of an image edge (Canny on the photo).
Runs with whichever prior the checkout has, so older checkouts can be compared.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from portraitos.engine.depth import EstimateSettings, estimate_depth

REPO = Path(__file__).resolve().parents[1]


def boundary_agreement(rgb: np.ndarray, matte: np.ndarray) -> float:
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), 40, 120) > 0
    near_edge = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    m = (matte > 0.5).astype(np.uint8)
    outline = (cv2.dilate(m, np.ones((3, 3), np.uint8)) - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0
    # the frame border is no outline
    outline[:2, :] = outline[-2:, :] = False
    outline[:, :2] = outline[:, -2:] = False
    return float(near_edge[outline].mean()) if outline.any() else float("nan")


def main() -> None:
    import insightface
    from PIL import Image
    from skimage import data

    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=Path, default=None)
    a = ap.parse_args()
    if a.scenes is not None:
        for f in sorted(a.scenes.glob("person*.pt")):
            photo, depth, _ = torch.load(f, weights_only=True)
            _, matte = estimate_depth(photo[None], EstimateSettings())
            m = matte[0] > 0.5
            person = (depth - 2.2).abs() < 0.01
            held = (depth - 1.9).abs() < 0.01
            red = (depth - 3.3).abs() < 0.01
            truth = person | held
            iou = float((m & truth).sum()) / float((m | truth).sum())
            print(
                f"{f.stem}: IoU with person + held object {iou:.3f}; red disc behind in matte "
                f"{100 * float(m[red].float().mean()):.1f} %; "
                f"held object in matte {100 * float(m[held].float().mean()):.1f} %"
            )
    folder = Path(insightface.__file__).parent / "data" / "images"
    photos = {"astronaut": data.astronaut()}
    for name in ("Tom_Hanks_54745.png", "t1.jpg", "mask_white.jpg"):
        photos[name] = np.array(Image.open(folder / name).convert("RGB"))
    for name, rgb in photos.items():
        dm, matte = estimate_depth(torch.from_numpy(rgb).float()[None] / 255, EstimateSettings())
        m = matte[0].numpy()
        print(
            f"{name}: matte outline within 2 px of an image edge {100 * boundary_agreement(rgb, m):.1f} %; "
            f"matte covers {100 * float((m > 0.5).mean()):.1f} % ({dm.meta.get('matte', 'GrabCut')})"
        )


if __name__ == "__main__":
    main()
