"""Sample inputs that ship inside registry packages, written as files ComfyUI can load.

``astronaut``: a portrait (``skimage.data.astronaut``), for the selfie-to-portrait workflows.

``motorcycle``: Middlebury 2014 Motorcycle (``skimage.data.stereo_motorcycle``), a real photo with
ground-truth disparity, converted to metric depth with its published calibration for the
down-sampled images (f = 994.978 px, baseline 193.001 mm, principal point offset 31.086 px):
Z = baseline · f / (d + dx). Pixels without ground truth are filled from the nearest measured pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MOTORCYCLE_F_PX = 994.978
MOTORCYCLE_BASELINE_MM = 193.001
MOTORCYCLE_DX_PX = 31.086


def motorcycle_depth_m(disp: np.ndarray) -> np.ndarray:
    """Metric depth in metres from the down-sampled Middlebury disparity (NaN/inf where unknown)."""
    d = disp.astype(np.float64)
    z = MOTORCYCLE_BASELINE_MM * MOTORCYCLE_F_PX / (d + MOTORCYCLE_DX_PX) / 1000.0
    z[~np.isfinite(d)] = np.nan
    return z.astype(np.float32)


def fill_from_nearest(depth: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    bad = ~np.isfinite(depth)
    if not bad.any():
        return depth
    idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    return depth[tuple(idx)]


def write_astronaut(folder: Path) -> str:
    """Write ``astronaut.png`` (``skimage.data.astronaut``, a head-and-shoulders portrait) into ``folder``."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    return "astronaut.png"


def write_motorcycle(folder: Path) -> tuple[str, str]:
    """Write ``motorcycle.png`` and ``motorcycle_depth.npy`` (metres) into ``folder``; return their names."""
    from PIL import Image
    from skimage import data

    left, _right, disp = data.stereo_motorcycle()
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(left).save(folder / "motorcycle.png")
    np.save(folder / "motorcycle_depth.npy", fill_from_nearest(motorcycle_depth_m(disp)))
    return "motorcycle.png", "motorcycle_depth.npy"


SHIPPED = Path(__file__).resolve().parents[1] / "example_inputs"


def write_shipped_samples(folder: Path = SHIPPED) -> list[Path]:
    """(Re)write the sample photos the pack ships in ``example_inputs/`` (licences in its NOTICE.md):
    ``astronaut.jpg``, public domain (NASA), JPEG quality 90."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(dest, quality=90, optimize=True)
    return [dest]


if __name__ == "__main__":
    for p in write_shipped_samples():
        print(f"wrote {p}")
