"""Subject distance from the face, iris vs interpupillary distance, on photos of known geometry.

    .venv/bin/python benchmarks/bench_face_distance.py

Known geometry: skimage's astronaut printed on a flat card whose scale makes her iris 11.7 mm across
(1.5 mm per photo pixel; her interpupillary distance is then 64.5 mm), placed at a known distance in
front of a 36×24 mm camera (the pack's exact renderer, pinhole, focused on the card, 4 samples per
pixel). For focal lengths 50/85/135 mm and distances 0.8–4 m, DepthEstimate's prior measures the
iris diameter and the interpupillary distance in pixels; each gives a distance with its anatomical
constant (11.7 mm, 63 mm). Errors are relative to the card's true distance.

What this measures: how precisely the models place the iris and the pupils as the face gets smaller
in the frame (and the bias of each constant for this one face). It cannot measure the spread of the
constants between people: 11.7 ± 0.5 mm for the iris (±4.3 %), about 63 ± 3.8 mm for the
interpupillary distance (±6 %, Dodgson 2004); add those in quadrature for a population.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.faces.distance import INTERPUPILLARY_MM, IRIS_DIAMETER_MM, distance_from_size
from portraitos.engine.lens.optics import ThinLens, pixels_per_mm
from portraitos.validation.reference import card, pattern_texture, render_pinhole, to_photo

REPO = Path(__file__).resolve().parents[1]

H, W = 768, 512
MM_PER_PX = 11.7 / 7.8


def photo_card():
    from skimage import data

    lin = srgb_to_linear(torch.from_numpy(data.astronaut()).float() / 255).permute(2, 0, 1)[None].double()
    x0, y0 = -225 * MM_PER_PX, -128 * MM_PER_PX  # face centre on the optical axis

    def texture(x, y):
        u, v = (x - x0) / MM_PER_PX, (y - y0) / MM_PER_PX
        grid = torch.stack([u / 256 - 1, v / 256 - 1], -1).reshape(1, 1, -1, 2)
        s = F.grid_sample(lin, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
        return s.T.reshape(*x.shape, 3), torch.ones_like(x)

    return texture


def main() -> None:
    wall = card(8.0, pattern_texture(80.0, (0.8, 0.8, 0.8), 0.3))
    tex = photo_card()
    ppm = pixels_per_mm(H, W, "full frame 36x24")
    print("focal  distance  iris px  IPD px  | iris error  IPD error  | prior used")
    errs_iris, errs_ipd = [], []
    for f in (50.0, 85.0, 135.0):
        for z in (0.8, 1.2, 2.0, 3.0, 4.0):
            lens = ThinLens(f, 8.0, z)
            lin, _ = render_pinhole([wall, card(z, tex)], lens, H, W, pixel_samples=4)
            img = to_photo(lin)[None]
            dm, _ = estimate_depth(img, EstimateSettings(focal_length_mm=f))
            m = dm.meta
            if "iris_diameter_px" not in m:
                print(f"{f:4.0f}mm {z:5.1f} m   no face found ({m.get('subject_distance_from')})")
                continue
            iris = sum(m["iris_diameter_px"]) / 2
            ipd = m["interpupillary_px"]
            zi = distance_from_size(iris, IRIS_DIAMETER_MM, f, ppm)
            zp = distance_from_size(ipd, INTERPUPILLARY_MM, f, ppm)
            ei, ep = zi / z - 1, zp / z - 1
            errs_iris.append(ei)
            errs_ipd.append(ep)
            print(
                f"{f:4.0f}mm {z:5.1f} m  {iris:7.2f} {ipd:7.1f}  | {100 * ei:+8.1f} % {100 * ep:+8.1f} %  | "
                f"{m['subject_distance_from']}"
            )
    for name, e in (("iris", errs_iris), ("interpupillary", errs_ipd)):
        t = torch.tensor(e)
        print(
            f"{name}: mean error {100 * float(t.mean()):+.1f} %, mean |error| {100 * float(t.abs().mean()):.1f} %, "
            f"worst {100 * float(t.abs().max()):.1f} % over {len(e)} renders"
        )


if __name__ == "__main__":
    main()
