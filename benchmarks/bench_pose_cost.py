"""What the body's relief costs: DepthEstimate's prior with and without the body-pose model, in one process.

    .venv/bin/python benchmarks/bench_pose_cost.py [--sizes 1MP,4K] [--repeat 2] [--image PHOTO]

The astronaut (or ``--image``, e.g. InsightFace's ``t1.jpg`` for six people) at each size; without the
pose every body is one plane behind the eyes (what a checkout without the converted pose model does).
Reported: fastest of ``--repeat`` runs, peak memory growth, and the ratio with the pose to without.
"""

from __future__ import annotations

import portraitos.engine.people.relief as people_relief
from portraitos.benchmarks.bench_bokeh import measure
from portraitos.benchmarks.bench_prior_speed import SIZES, frame, photo_frame, timing_args
from portraitos.engine.depth import EstimateSettings, estimate_depth


def main() -> None:
    args = timing_args(repeat=2)
    settings = EstimateSettings()
    with_pose = people_relief.body_pose
    estimate_depth(frame(*SIZES["1MP"]), settings)  # models loaded, not counted
    for name in args.sizes.split(","):
        h, w = SIZES[name]
        img = frame(h, w) if args.image is None else photo_frame(args.image, h, w)
        times = {}
        for pose in (False, True):
            people_relief.body_pose = with_pose if pose else (lambda image, face: None)
            try:
                t, mem, (dm, _matte) = measure(lambda: estimate_depth(img, settings), args.repeat)
            finally:
                people_relief.body_pose = with_pose
            times[pose] = t
            body = (dm.meta.get("relief") or {}).get("body", "?")
            print(f"{name} prior, pose {'on ' if pose else 'off'}: {t:.2f} s, +{mem / 2**20:.0f} MB ({body})")
        print(f"{name} prior: the body pose costs {times[True] / times[False]:.2f}x")


if __name__ == "__main__":
    main()
