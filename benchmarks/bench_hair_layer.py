"""What the soft alpha on hair costs: DepthEstimate's prior with and without the matting step, and
LensBokeh with and without the people rendered as a layer of their own, in the same process.

    .venv/bin/python benchmarks/bench_hair_layer.py [--sizes 1MP,4K] [--repeat 2] [--image PHOTO]

The astronaut (or ``--image``) at each size (see ``bench_prior_speed.frame``); LensBokeh at 85 mm f/1.8,
auto focus on the eyes. Reported: fastest of ``--repeat`` runs, peak memory growth, and the ratio of
each new step to its baseline (run just before it, on the same frame).
"""

from __future__ import annotations

import portraitos.engine.people.subject_matte as subject_matte
from portraitos.benchmarks.bench_bokeh import measure
from portraitos.benchmarks.bench_prior_speed import SIZES, frame, photo_frame, timing_args
from portraitos.engine.depth import EstimateSettings, estimate_depth
from portraitos.engine.lens.pipeline import LensSettings, render_lens_bokeh


def main() -> None:
    args = timing_args(repeat=2)
    settings = EstimateSettings()
    estimate_depth(frame(*SIZES["1MP"]), settings)  # models loaded, not counted
    for name in args.sizes.split(","):
        h, w = SIZES[name]
        img = frame(h, w) if args.image is None else photo_frame(args.image, h, w)
        times = {}
        for matting in (False, True):
            subject_matte.MATTING = matting
            t, mem, (dm, _matte) = measure(lambda: estimate_depth(img, settings), args.repeat)
            times[matting] = t
            print(f"{name} prior, matting {'on ' if matting else 'off'}: {t:.2f} s, +{mem / 2**20:.0f} MB")
        print(f"{name} prior: matting costs {times[True] / times[False]:.2f}x")
        lens = LensSettings(85, 1.8, 0.0)
        layered = {}
        for alpha in (None, dm.layer_alpha):
            t, mem, _ = measure(
                lambda: render_lens_bokeh(img, dm.metres, lens, depth_meta=dm.meta, layer_alpha=alpha), args.repeat
            )
            layered[alpha is not None] = t
            how = "person layer" if alpha is not None else "one depth   "
            print(f"{name} LensBokeh, {how}: {t:.2f} s, +{mem / 2**20:.0f} MB")
        print(f"{name} LensBokeh: the person layer costs {layered[True] / layered[False]:.2f}x")


if __name__ == "__main__":
    main()
