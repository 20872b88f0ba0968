"""Lens profiles over the whole lens range: at any focal length, f-number and focus distance LensBokeh's
inputs allow, every profile renders a finite frame that keeps its light (no black blocks where a field zone's
cat's eye came out empty), and the lens panel's route answers every combination with discs that peak at 255.

The profiles' barrel geometry is stated for their design focal length; far from it (a 10 mm lens with an
85 mm design's barrel) the two-stop model would vignette a corner zone completely. Each zone keeps a floor
on its disc instead."""

import itertools
import math

import pytest
import torch

from portraitos.engine.lens import Aperture, HighlightRebuild, LensSettings, ThinLens, render_lens_bokeh
from portraitos.engine.lens.character import disc_mask, shaped_kernels
from portraitos.engine.lens.profiles import PROFILE_NAMES, find_profile, profile_discs
from portraitos.services.lens_panel import discs_payload

FOCALS = (10.0, 24.0, 85.0, 400.0)  # LensBokeh's range is 10..400 mm
F_NUMBERS = (0.7, 2.0, 8.0, 32.0)  # 0.7..32
FOCUS_M = (0.2, 2.0, 1000.0)  # 0 is auto; the rest must be beyond the focal length
H, W = 24, 36
NO_HL = HighlightRebuild(boost=0.0)


def _grid():
    for name, focal, n, s in itertools.product(PROFILE_NAMES, FOCALS, F_NUMBERS, FOCUS_M):
        if s * 1000.0 > focal * 1.05:
            yield name, focal, n, s


def test_the_two_reported_cases_render_without_black_blocks():
    """vintage swirl at 24 mm f/2 @ 0.5 m (black corner rectangles) and classic 85 at 10 mm f/2.8 @ 0.2 m
    (63 % of the frame black): a flat grey scene behind focus stays grey everywhere."""
    for name, focal, n, s in (("vintage 58 f/2 · swirl", 24.0, 2.0, 0.5), ("classic 85 f/1.2", 10.0, 2.8, 0.2)):
        p = find_profile(name)
        img = torch.full((1, 120, 180, 3), 0.5)
        depth = torch.full((1, 120, 180), 50.0)
        out = render_lens_bokeh(img, depth, LensSettings(focal, n, s), p.aperture, NO_HL, character=p.character)
        frame = out.image[0]
        assert torch.isfinite(frame).all(), name
        # grey, give or take the colour fringes at the frame's edges (red and blue discs differ in size)
        assert float(frame.min()) > 0.45 and float(frame.max()) < 0.6, (name, float(frame.min()))


def test_every_profile_focal_f_number_and_focus_renders_finite_and_keeps_its_light():
    gen = torch.Generator().manual_seed(5)
    img = 0.2 + 0.6 * torch.rand(1, H, W, 3, generator=gen)
    depth = torch.full((1, H, W), 30.0)
    depth[:, 6:18, 10:26] = 1.0
    bad = []
    for name, focal, n, s in _grid():
        p = find_profile(name)
        aperture = p.aperture or Aperture()
        out = render_lens_bokeh(img, depth, LensSettings(focal, n, s), aperture, NO_HL, character=p.character)
        frame = out.image[0]
        if not bool(torch.isfinite(frame).all()) or float(frame.mean(-1).min()) < 0.05:
            bad.append((name, focal, n, s, float(frame.nan_to_num(-1).mean(-1).min())))
    assert not bad, f"{len(bad)} combinations render black or non-finite, e.g. {bad[:5]}"


def test_every_zone_keeps_a_floor_on_its_disc():
    """A barrel circle that misses the pupil entirely still leaves a disc: finite, summing to 1, not a point."""
    p = find_profile("classic 85 f/1.2")
    far_off = (40.0, -40.0, 1.0)  # the barrel circle 40 pupil radii away: no overlap with the aperture
    k = shaped_kernels(p.aperture, p.character, [12.0], 1, 1.0, [far_off])[0]
    assert torch.isfinite(k).all() and float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    assert int((k > 0.1 * float(k.max())).sum()) > 20  # a disc of some area, not the identity
    m = disc_mask(p.character, p.aperture, ThinLens(10.0, 2.8, 0.2), (0.95, -0.95))
    assert torch.isfinite(m).all() and float(m.max()) == pytest.approx(1.0)


def test_the_panel_route_answers_every_profile_and_lens():
    """A denser grid than the renders' (the route draws discs only): 6 profiles × 5 focal lengths × 5
    f-numbers × 4 focus distances, those that reported 400 included (vintage at 35 mm f/2.8, classic ≤ 24 mm)."""
    failures = []
    focals = (10.0, 24.0, 35.0, 85.0, 400.0)
    grid = itertools.product(PROFILE_NAMES, focals, (0.7, 1.4, 2.8, 8.0, 32.0), (0.2, 0.5, 2.0, 1000.0))
    for name, focal, n, s in ((p, f, n, d) for p, f, n, d in grid if d * 1000.0 > f * 1.05):
        q = {"profile": name, "f_number": str(n), "focal_length_mm": str(focal), "focus_distance_m": str(s)}
        try:
            got = discs_payload(q)
        except Exception as e:  # noqa: BLE001 - every failure is collected and reported
            failures.append((name, focal, n, s, repr(e)))
            continue
        for label, d in got["discs"].items():
            if max(d["alpha"]) != 255 or len(d["alpha"]) != d["size"] ** 2:
                failures.append((name, focal, n, s, label))
    assert not failures, f"{len(failures)} failures, e.g. {failures[:5]}"


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_panel_discs_at_the_extremes_are_finite(name):
    for focal, n, s in ((10.0, 0.7, 0.2), (10.0, 32.0, 0.2), (400.0, 0.7, 1000.0), (24.0, 2.8, 1000.0)):
        for label, d in profile_discs(name, n, focal, s).items():
            assert torch.isfinite(d).all() and not math.isnan(float(d.max())), (name, focal, n, s, label)
