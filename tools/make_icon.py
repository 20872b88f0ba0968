"""Draw the pack's icon (docs/icon.png, 400×400): three out-of-focus highlights as PortraitOS renders them,
a 9-blade aperture scattered in linear light over a dark background.

    .venv/bin/python tools/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from portraitos.engine.core.colour import linear_to_srgb
from portraitos.engine.lens import Aperture

REPO = Path(__file__).resolve().parents[1]

SIZE = 400
LIGHTS = [  # (x, y, radius px, linear RGB): warm key, cooler fill, small warm point
    (150, 165, 105, (1.0, 0.55, 0.22)),
    (265, 245, 85, (0.30, 0.55, 1.0)),
    (245, 110, 45, (1.0, 0.80, 0.45)),
]


def main() -> None:
    lin = torch.full((3, SIZE, SIZE), 0.004)
    for x, y, r, rgb in LIGHTS:
        k = Aperture(9, 10.0, 0.2).kernel(r, edge_px=2.0)
        k = k / k.max() * 0.55
        h = k.shape[0] // 2
        for c in range(3):
            lin[c, y - h : y + h + 1, x - h : x + h + 1] += k * rgb[c]
    srgb = linear_to_srgb(lin.clamp(0, 1)).permute(1, 2, 0).numpy()
    out = REPO / "docs" / "icon.png"
    Image.fromarray((srgb * 255 + 0.5).astype(np.uint8)).save(out, optimize=True)
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
