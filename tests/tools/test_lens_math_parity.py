"""The editor's lens maths (js/lens_math.js) gives the engine's numbers for the same inputs.

The JS module runs under node.js when it is installed, else in headless Chromium (what the browser
tests use); either way its output is compared number by number with engine.lens.
"""

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from portraitos.engine.lens import (
    SENSORS,
    Aperture,
    ThinLens,
    acceptable_coc_mm,
    coc_px_at,
    depth_of_field,
    hyperfocal_distance_m,
)

REPO = Path(__file__).resolve().parents[2]
LENS_MATH = REPO / "js" / "lens_math.js"

CASES = [
    # focal mm, f-number, focus m, sensor, height px, width px
    (85.0, 1.2, 1.5, "full frame 36x24", 1536, 1024),
    (85.0, 1.8, 2.0, "full frame 36x24", 1024, 1024),
    (50.0, 2.8, 3.0, "APS-C 23.5x15.6", 800, 1200),
    (35.0, 8.0, 10.0, "Micro Four Thirds 17.3x13", 3000, 4000),
    (24.0, 11.0, 5.0, "full frame 36x24", 512, 768),  # past the hyperfocal distance: far limit infinite
    (200.0, 4.0, 20.0, "medium format 44x33", 2000, 1500),
    (14.0, 22.0, 0.5, "full frame 36x24", 100, 100),
]
APERTURES = [(0, 0.0, 0.0), (5, 0.0, 0.0), (6, 15.0, 0.3), (9, -40.0, 0.7), (3, 90.0, 1.0), (16, 7.0, 0.0)]
ANGLES = [i * 2 * math.pi / 37 for i in range(37)]

JS = """
import * as L from %s;
const cases = %s, apertures = %s, angles = %s;
const out = {sensors: L.SENSORS, dof: [], coc: [], aperture: []};
for (const [f, n, s, sensor, h, w] of cases) {
  const d = L.depthOfField(f, n, s, sensor);
  out.dof.push([d.cocLimitMm, d.hyperfocalM, d.nearLimitM, d.farLimitM === Infinity ? "inf" : d.farLimitM]);
  out.coc.push([3, 10, 1.0, Infinity].map((z) => L.cocPxAt(f, n, s, z, h, w, sensor)));
}
for (const [b, rot, curv] of apertures) out.aperture.push(angles.map((t) => L.apertureBoundaryRadius(t, b, rot, curv)));
console.log(JSON.stringify(out));
"""


def _js_results() -> dict:
    src = JS % (
        json.dumps(LENS_MATH.as_uri()),
        json.dumps(CASES),
        json.dumps(APERTURES),
        json.dumps(ANGLES),
    )
    node = shutil.which("node")
    if node:
        run = subprocess.run([node, "--input-type=module", "-e", src], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)
    from portraitos.testing.browser_host import launch_browser  # Chromium, as the browser tests use it

    with launch_browser() as browser:
        page = browser.new_page()
        page.set_content("<html></html>")
        module = LENS_MATH.read_text().replace("export ", "")
        body = src.split("\n", 2)[2].replace("L.", "").replace("console.log(JSON.stringify(out));", "return out;")
        return page.evaluate("() => {" + module + body + "}")


@pytest.fixture(scope="module")
def js():
    return _js_results()


def test_sensors_are_the_same(js):
    assert {k: tuple(v) for k, v in js["sensors"].items()} == SENSORS


@pytest.mark.parametrize("i", range(len(CASES)))
def test_depth_of_field_matches(js, i):
    f, n, s, sensor, h, w = CASES[i]
    dof = depth_of_field(f, n, s, sensor)
    c, hyper, near, far = js["dof"][i]
    assert c == pytest.approx(acceptable_coc_mm(sensor), rel=1e-12)
    assert hyper == pytest.approx(dof.hyperfocal_m, rel=1e-12)
    assert hyper == pytest.approx(hyperfocal_distance_m(f, n, acceptable_coc_mm(sensor)), rel=1e-12)
    assert near == pytest.approx(dof.near_limit_m, rel=1e-12)
    if math.isinf(dof.far_limit_m):
        assert far == "inf"
    else:
        assert far == pytest.approx(dof.far_limit_m, rel=1e-12)
    for z, got in zip([3, 10, 1.0, math.inf], js["coc"][i]):
        assert got == pytest.approx(coc_px_at(f, n, s, z, h, w, sensor), rel=1e-12, abs=1e-12)


def test_the_cases_cover_an_infinite_far_limit():
    assert any(math.isinf(depth_of_field(f, n, s, sensor).far_limit_m) for f, n, s, sensor, *_ in CASES)


@pytest.mark.parametrize("i", range(len(APERTURES)))
def test_aperture_outline_matches(js, i):
    b, rot, curv = APERTURES[i]
    want = Aperture(b, rot, curv).boundary_radius(torch.tensor(ANGLES, dtype=torch.float64))
    assert js["aperture"][i] == pytest.approx(want.tolist(), rel=1e-9)


@pytest.mark.parametrize("f,n,s,sensor", [c[:4] for c in CASES])
def test_limits_are_where_the_thin_lens_blur_reaches_the_limit(f, n, s, sensor):
    """Physics, not just parity: at the near and far limits ThinLens's CoC equals the acceptable CoC."""
    dof = depth_of_field(f, n, s, sensor)
    lens = ThinLens(f, n, s, sensor)
    c = acceptable_coc_mm(sensor)
    # ThinLens.coc_mm works in float32, where 1/S - 1/Z loses digits: a 1e-3 tolerance
    assert float(lens.coc_mm(dof.near_limit_m).abs()) == pytest.approx(c, rel=1e-3)
    if math.isfinite(dof.far_limit_m):
        assert float(lens.coc_mm(dof.far_limit_m)) == pytest.approx(c, rel=1e-3)
    else:  # focused past the hyperfocal distance: even infinity is sharp
        assert lens.aperture_mm * lens.image_distance_mm / (s * 1000.0) <= c * (1 + 1e-9)
    assert dof.near_limit_m < s
