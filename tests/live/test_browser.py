"""LensBokeh's editor panel in a real browser (Debian's Chromium) against a live ComfyUI with the pack,
in the classic canvas and in the "Nodes 2.0" (Vue) renderer, on every frontend release of the matrix
(the one ComfyUI pins and each one in ``scripts/frontends.txt``).

One server and one browser serve every test of one frontend; each renderer gets one page.
"""

from __future__ import annotations

import io
import json
import math
import re
import time

import numpy as np
import pytest
from PIL import Image

from portraitos.engine.lens import coc_px_at, depth_of_field
from portraitos.headless.server import ComfyServer
from portraitos.testing.browser_host import CUT_LABELS, launch_browser, write_editor_settings
from portraitos.testing.comfy_host import frontends

pytestmark = pytest.mark.slow  # live: set by the folder

MODES = ["classic", "nodes2"]
FRONTENDS = frontends()  # raises, failing collection, when a release of the matrix is not provisioned
H, W = 96, 128  # the picture LensBokeh works on
NEAR_M, FAR_M = 1.5, 6.0


def _write_inputs(input_dir):
    rng = np.random.default_rng(0)
    img = (rng.random((H, W, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(input_dir / "editor_subject.png")
    depth = np.full((H, W), FAR_M, dtype=np.float32)
    depth[24:72, 40:88] = NEAR_M  # a near subject in the centre, a far wall around it
    np.save(input_dir / "editor_planes.npy", depth)


@pytest.fixture(scope="module", params=FRONTENDS, ids=[f"frontend-{v}" for v, _ in FRONTENDS])
def editor(request, tmp_path_factory):
    version, front_end_root = request.param
    work = tmp_path_factory.mktemp(f"editor-{version}")
    write_editor_settings(work)
    server = ComfyServer(work, front_end_root=front_end_root)
    _write_inputs(server.input_dir)
    server.start()
    try:
        with launch_browser() as browser:
            yield Editor(server, browser, version)
    finally:
        server.stop()


class Editor:
    def __init__(self, server, browser, frontend_version):
        self.server = server
        self.browser = browser
        self.frontend_version = frontend_version
        self.pages = {}

    def page(self, mode):
        """A page of the editor in one renderer with LoadImage + DepthLoad → LensBokeh → PreviewImage."""
        if mode in self.pages:
            return self.pages[mode]
        status, _ = self.server.post_json("/settings/Comfy.VueNodes.Enabled", mode == "nodes2")
        assert status == 200
        page = self.browser.new_page()
        problems = []
        page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text} @ {m.location}"))
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}\n{e.stack}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(self.server.base)
        page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=60_000)
        page.wait_for_function("app.extensions.some((e) => e.name === 'PortraitOS.LensPanel')", timeout=30_000)
        page.evaluate(
            """async () => {
            app.graph.clear();
            const add = (type, x, y) => {
                const n = LiteGraph.createNode(type); app.graph.add(n); n.pos = [x, y]; return n;
            };
            const lb = add('LensBokeh', 20, 40);
            const img = add('LoadImage', 460, 40);
            img.widgets.find((w) => w.name === 'image').value = 'editor_subject.png';
            const dep = add('DepthLoad', 460, 480);
            dep.widgets.find((w) => w.name === 'depth').value = 'editor_planes.npy';
            img.connect(0, lb, 0);
            dep.connect(0, lb, 1);
            const pv = add('PreviewImage', 820, 40);
            lb.connect(0, pv, 0);
            // load it as a saved workflow is loaded, so both renderers lay it out from the stored positions
            const workflow = app.graph.serialize();
            await app.loadGraphData(workflow);
            window.portraitosTestNode = app.graph.nodes.find((n) => n.type === 'LensBokeh');
            app.canvas.ds.offset = [80, 120];
            app.canvas.ds.scale = 1;
            app.canvas.setDirty(true, true);
        }"""
        )
        # the panel knows the picture (read from LoadImage's file) once it has loaded
        page.wait_for_function("portraitosTestNode.portraitosLens.readout.sizeKnown", timeout=30_000)
        page.locator(".portraitos-aperture").wait_for(state="visible", timeout=30_000)
        self.pages[mode] = (page, problems)
        return self.pages[mode]

    @staticmethod
    def type_into_widget(page, mode, name, value):
        """Change a number widget as a user does: in the classic canvas double-click it and type into the
        value prompt; in Nodes 2.0 select its input field's text and type over it."""
        if mode == "classic":
            x, y = page.evaluate(
                """(name) => {
                const node = portraitosTestNode, c = app.canvas, w = node.widgets.find((w) => w.name === name);
                const [x, y] = c.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, node.pos[1] + w.y + 10]);
                const r = c.canvas.getBoundingClientRect();
                return [r.left + (x * r.width) / c.canvas.width, r.top + (y * r.height) / c.canvas.height];
            }""",
                name,
            )
            page.mouse.dblclick(x, y)
            field = page.locator(".graphdialog input")
            field.wait_for(state="visible", timeout=5000)
            field.fill(str(value))
            field.press("Enter")
        else:
            field = page.locator(".lg-node-widget", has_text=name).locator("input")
            # newer frontends lay a scrubbing overlay over number fields, which takes the click: focus the
            # field as a Tab into it would
            field.focus()
            page.keyboard.press("Control+A")
            page.keyboard.type(str(value))
            page.keyboard.press("Enter")
        page.wait_for_function(
            "([name, v]) => portraitosTestNode.widgets.find((w) => w.name === name).value == v", arg=[name, value]
        )

    @staticmethod
    def set_widget(page, name, value):
        """Change a widget as the editor does: new value, then the widget's callback."""
        page.evaluate(
            """([name, value]) => {
            const w = portraitosTestNode.widgets.find((w) => w.name === name);
            w.value = value;
            w.callback?.(value);
            app.canvas.setDirty(true, true);
        }""",
            [name, value],
        )


def _pack_problems(problems):
    return [p for p in problems if "portraitos" in p.lower() or "lens_math" in p.lower()]


@pytest.mark.parametrize("mode", MODES)
def test_extension_loads_without_errors_from_the_pack(editor, mode):
    page, problems = editor.page(mode)
    assert page.evaluate("Boolean(portraitosTestNode.portraitosLens)")
    assert _pack_problems(problems) == []


@pytest.mark.parametrize("mode", MODES)
def test_panel_is_on_the_node_and_not_covered(editor, mode):
    page, _ = editor.page(mode)
    for cls in ("portraitos-aperture", "portraitos-readout", "portraitos-picker"):
        box = page.locator(f".{cls}").bounding_box()
        assert box and box["width"] > 20 and box["height"] > 10, (cls, box)
        # what the user sees at the element's centre is the element itself (no widget drawn over it)
        hit = page.evaluate(
            "([x, y, cls]) => { const e = document.elementFromPoint(x, y);"
            " return !!e && (!!e.closest('.' + cls) || e.outerHTML.slice(0, 300)); }",
            [box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 8), cls],
        )
        if hit is not True:
            page.screenshot(path=f"/tmp/fe/{mode}.png")
        assert hit is True, f"{cls} is covered in {mode} mode by {hit}"


def test_widget_labels_are_whole_in_nodes2(editor):
    """Nodes 2.0 draws widget labels as elements: on the pack's nodes (LensBokeh, DepthLoad, at the width
    they are created with) each label is shown whole, not cut to "focal_lengt…" (the classic canvas
    draws its labels itself)."""
    page, problems = editor.page("nodes2")
    labels = page.evaluate(CUT_LABELS)
    assert labels["seen"] >= 10 and labels["cut"] == [], labels
    for name in ("focal_length_mm", "focus_distance_m", "blade_rotation_deg"):
        box = page.locator(".lg-node-widget", has_text=name).first.bounding_box()
        assert box and box["width"] > 0, name
    assert _pack_problems(problems) == []


def _count_corners(png: bytes) -> int:
    """Corners of the filled aperture in a screenshot: peaks of its edge radius around the centroid."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.float64)
    fill = np.array([242, 214, 128], dtype=np.float64)
    weight = np.clip(1.0 - np.linalg.norm(rgb - fill, axis=-1) / np.linalg.norm(fill - 17), 0.0, 1.0)
    ys, xs = np.mgrid[: weight.shape[0], : weight.shape[1]]
    cy, cx = (weight * ys).sum() / weight.sum(), (weight * xs).sum() / weight.sum()
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    steps = np.arange(0, min(weight.shape) / 2, 0.1)
    radius = np.empty_like(angles)
    for i, a in enumerate(angles):
        px = np.clip(np.round(cx + steps * np.cos(a)).astype(int), 0, weight.shape[1] - 1)
        py = np.clip(np.round(cy - steps * np.sin(a)).astype(int), 0, weight.shape[0] - 1)
        radius[i] = weight[py, px].sum() * 0.1  # area-like integral along the ray: sub-pixel edge
    radius = np.convolve(np.r_[radius[-4:], radius, radius[:4]], np.ones(9) / 9, mode="valid")
    lo, hi = radius.min(), radius.max()
    if (hi - lo) / hi < 0.02:
        return 0  # a circle
    level = lo + 0.6 * (hi - lo)
    peaks = 0
    for i in range(len(radius)):
        win = radius[np.arange(i - 12, i + 13) % len(radius)]
        if radius[i] >= level and radius[i] == win.max() and np.argmax(win) == 12:
            peaks += 1
    return peaks


@pytest.mark.parametrize("mode", MODES)
def test_aperture_drawing_follows_the_blade_widget(editor, mode):
    page, _ = editor.page(mode)
    seen = {}
    editor.set_widget(page, "blade_curvature", 0.0)
    for blades in (5, 6, 8, 0):
        editor.type_into_widget(page, mode, "aperture_blades", blades)
        seen[blades] = _count_corners(page.locator(".portraitos-aperture").screenshot())
    assert seen == {0: 0, 5: 5, 6: 6, 8: 8}


def _number(text: str, label: str) -> float:
    m = re.search(re.escape(label) + r"\s*([0-9.]+|∞)", text)
    assert m, (label, text)
    return math.inf if m.group(1) == "∞" else float(m.group(1))


def _decimals(text: str, label: str) -> int:
    m = re.search(re.escape(label) + r"\s*([0-9.]+)", text)
    return len(m.group(1).split(".")[1]) if m and "." in m.group(1) else 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    # whole numbers: typed into Nodes 2.0's number fields in headless Chromium, a "." key is dropped
    "focal,f_number,focus,sensor",
    [(85, 2, 2, "APS-C 23.5x15.6"), (24, 8, 4, "full frame 36x24")],
)
def test_readout_numbers_match_python(editor, mode, focal, f_number, focus, sensor):
    page, _ = editor.page(mode)
    editor.set_widget(page, "sensor", sensor)  # a combo: picked through its widget
    for name, value in (("focal_length_mm", focal), ("f_number", f_number), ("focus_distance_m", focus)):
        editor.type_into_widget(page, mode, name, value)
    lines = {
        key: page.locator(f".portraitos-readout [data-key='{key}']").inner_text()
        for key in ("focus", "sharp", "hyperfocal", "blur", "size")
    }
    dof = depth_of_field(focal, f_number, focus, sensor)
    assert f"{W}×{H}" in lines["size"]
    shown = {
        "focus": (_number(lines["focus"], "focus"), focus, _decimals(lines["focus"], "focus")),
        "near": (_number(lines["sharp"], "sharp"), dof.near_limit_m, _decimals(lines["sharp"], "sharp")),
        "far": (_number(lines["sharp"], "– "), dof.far_limit_m, _decimals(lines["sharp"], "– ")),
        "hyperfocal": (
            _number(lines["hyperfocal"], "hyperfocal"),
            dof.hyperfocal_m,
            _decimals(lines["hyperfocal"], "hyperfocal"),
        ),
    }
    for at, label in ((3.0, "@3 m"), (10.0, "@10 m"), (math.inf, "@∞")):
        shown[label] = (_number(lines["blur"], label), coc_px_at(focal, f_number, focus, at, H, W, sensor), 1)
    for what, (got, want, decimals) in shown.items():
        if math.isinf(want):
            assert math.isinf(got), what
        else:
            assert abs(got - want) <= 0.5 * 10**-decimals + 1e-9, (what, got, want, lines)
    # and the unrounded numbers behind the text
    full = page.evaluate("portraitosTestNode.portraitosLens.readout")
    assert full["nearLimitM"] == pytest.approx(dof.near_limit_m, rel=1e-12)
    assert full["hyperfocalM"] == pytest.approx(dof.hyperfocal_m, rel=1e-12)
    assert full["cocPx"]["3"] == pytest.approx(coc_px_at(focal, f_number, focus, 3.0, H, W, sensor), rel=1e-12)


def _click_picture(page, u, v):
    rect = page.evaluate("portraitosTestNode.portraitosLens.rect")
    size = page.evaluate(
        "[portraitosTestNode.portraitosLens.picker.width, portraitosTestNode.portraitosLens.picker.height]"
    )
    box = page.locator(".portraitos-picker").bounding_box()
    x = box["x"] + (rect[0] + u * rect[2]) * box["width"] / size[0]
    y = box["y"] + (rect[1] + v * rect[3]) * box["height"] / size[1]
    page.mouse.click(x, y)


def _assert_marker_at(page, before: bytes, after: bytes, u: float, v: float):
    """The focus marker is drawn where the click was: the pixels that changed centre on the point."""
    a = np.asarray(Image.open(io.BytesIO(before)).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(after)).convert("RGB")).astype(int)
    changed = np.abs(a - b).sum(-1) > 60
    assert changed.sum() > 30, "nothing was drawn on the picture after the click"
    ys, xs = np.nonzero(changed)
    rect = page.evaluate("portraitosTestNode.portraitosLens.rect")
    width = page.evaluate("portraitosTestNode.portraitosLens.picker.width")
    k = a.shape[1] / width  # screenshot pixels per canvas pixel
    assert xs.mean() == pytest.approx((rect[0] + u * rect[2]) * k, abs=4)
    assert ys.mean() == pytest.approx((rect[1] + v * rect[3]) * k, abs=4)
    assert xs.max() - xs.min() < 40 * k  # a marker, not a redrawn picture


@pytest.mark.parametrize("mode", MODES)
def test_clicking_the_picture_sets_the_focus_point_and_the_run_uses_it(editor, mode):
    page, problems = editor.page(mode)
    editor.set_widget(page, "focus_distance_m", 0.0)
    editor.set_widget(page, "f_number", 1.8)
    # a point on the far wall beside the subject; another one per renderer, so that the second run is not
    # answered from ComfyUI's cache (a cached node sends no result to a fresh page)
    u, v = {"classic": (0.1, 0.5), "nodes2": (0.9, 0.15)}[mode]
    before = page.locator(".portraitos-picker").screenshot()
    _click_picture(page, u, v)
    after = page.locator(".portraitos-picker").screenshot()
    _assert_marker_at(page, before, after, u, v)
    point = page.evaluate("portraitosTestNode.widgets.find((w) => w.name === 'focus_point').value")
    x, y = (float(v) for v in point.split(","))
    assert x == pytest.approx(u, abs=0.02) and y == pytest.approx(v, abs=0.02)
    # the graph the editor queues carries the point, and LensBokeh focuses at the depth under it
    prompt = page.evaluate("app.graphToPrompt().then((p) => p.output)")
    lens_id = str(page.evaluate("portraitosTestNode.id"))
    assert prompt[lens_id]["inputs"]["focus_point"] == point
    page.evaluate("app.queuePrompt(0, 1)")
    try:
        page.wait_for_function(
            "portraitosTestNode.portraitosLens.lastFocus?.how === 'focus point'",
            timeout=120_000,
        )
    except Exception as e:
        raise AssertionError(
            f"no run result on the node: {json.dumps(editor.server.get_json('/history'))[-3000:]}\n"
            f"{editor.server.log_tail()}\n{problems[-10:]}"
        ) from e
    last = page.evaluate("portraitosTestNode.portraitosLens.lastFocus")
    assert last["distanceM"] == pytest.approx(FAR_M, rel=0.01)
    assert "last run: focus point" in page.locator(".portraitos-readout [data-key='focus']").inner_text()
    # the read-out also lands in the output-slot label, which both renderers draw
    label = page.evaluate("portraitosTestNode.outputs.find((o) => o.name === 'focus_distance_m').label")
    assert label.startswith("focus 6") and "(focus point)" in label, label
    # the node shows its result before the server files the prompt in /history: wait for the entry
    deadline = time.time() + 30
    while True:
        texts = [
            "".join(entry["outputs"][lens_id]["text"])
            for entry in editor.server.get_json("/history").values()
            if lens_id in entry.get("outputs", {}) and entry["prompt"][2][lens_id]["inputs"].get("focus_point") == point
        ]
        if texts or time.time() > deadline:
            break
        time.sleep(0.1)
    assert texts and "6 m (focus point)" in texts[-1], texts
    assert _pack_problems(problems) == []


@pytest.mark.parametrize("mode", MODES)
def test_panel_tells_the_truth_after_a_run(editor, mode):
    """After the run above: a changed widget or focus point is marked as pending, a cleared focus point
    no longer reads as the focus, a lens title follows the widgets, the last run's read-out survives the
    graph being loaded again (as on a tab switch or a page reload), and the picker is large enough."""
    page, problems = editor.page(mode)
    assert page.evaluate("portraitosTestNode.portraitosLens.lastFocus?.how") == "focus point"
    box = page.locator(".portraitos-picker").bounding_box()
    scale = page.evaluate("app.canvas.ds.scale")
    assert box["height"] / scale >= 150 and box["width"] / scale >= 250, box

    def line(key):
        loc = page.locator(f".portraitos-readout [data-key='{key}']")
        return loc.inner_text() if loc.count() else None

    assert line("pending") is None
    # before / after: the panel switches between the result and the input it was made from
    toggle = page.locator(".portraitos-compare")
    assert "temp" in page.evaluate("portraitosTestNode.portraitosLens.imageUrl")
    toggle.click()
    assert "editor_subject.png" in page.evaluate("portraitosTestNode.portraitosLens.imageUrl")
    assert "result" in toggle.inner_text()
    toggle.click()
    assert "temp" in page.evaluate("portraitosTestNode.portraitosLens.imageUrl")
    page.evaluate("portraitosTestNode.title = 'Lens Bokeh · 85 mm f/1.8'")
    editor.set_widget(page, "f_number", 2.8)
    assert "f_number" in line("pending") and "next run" in line("pending")
    focal = page.evaluate("portraitosTestNode.widgets.find((w) => w.name === 'focal_length_mm').value")
    assert page.evaluate("portraitosTestNode.title") == f"Lens Bokeh · {focal:g} mm f/2.8"
    editor.set_widget(page, "focus_point", "")
    assert "focus_point" in line("pending")
    assert "focus point" not in line("focus"), line("focus")  # cleared is cleared
    # loaded again from its saved form: the last run is still known
    editor.set_widget(
        page, "focus_point", page.evaluate("portraitosTestNode.properties.portraitos_last_run.inputs.focus_point")
    )
    editor.set_widget(page, "f_number", 1.8)
    page.evaluate(
        """async () => {
        await app.loadGraphData(app.graph.serialize());
        window.portraitosTestNode = app.graph.nodes.find((n) => n.type === 'LensBokeh');
    }"""
    )
    page.wait_for_function("portraitosTestNode.portraitosLens?.readout")
    assert page.evaluate("portraitosTestNode.portraitosLens.lastFocus.how") == "focus point"
    assert "last run: focus point" in line("focus")
    assert line("pending") is None
    assert _pack_problems(problems) == []


def _disc_shapes(weight: np.ndarray) -> tuple[float, float]:
    """(area, minor/major axis ratio) of a disc drawn as weights 0..1: its second moments."""
    ys, xs = np.mgrid[: weight.shape[0], : weight.shape[1]]
    total = weight.sum()
    cy, cx = (weight * ys).sum() / total, (weight * xs).sum() / total
    cov = np.cov(np.stack([xs.ravel() - cx, ys.ravel() - cy]), aweights=weight.ravel())
    lo, hi = np.linalg.eigvalsh(cov)
    return float(total), float(np.sqrt(lo / hi))


@pytest.mark.parametrize("mode", MODES)
def test_lens_profile_discs_are_drawn_as_python_computes_them(editor, mode):
    """Choosing a lens profile draws its disc of a background point at the frame centre and at a corner
    (below the aperture): the masks the server's profile_discs() gives for the node's widgets, drawn so
    that the corner's cat's eye (its narrowing, its area against the centre's) reads as computed."""
    from portraitos.services.lens_panel import discs_payload

    page, problems = editor.page(mode)
    editor.set_widget(page, "f_number", 1.2)
    editor.set_widget(page, "focal_length_mm", 85.0)
    try:
        for profile in ("classic 85 f/1.2", "ideal"):
            editor.set_widget(page, "lens_profile", profile)
            page.wait_for_function(
                "(p) => portraitosTestNode.portraitosLens.discs?.profile === p", arg=profile, timeout=15_000
            )
            got = page.evaluate("portraitosTestNode.portraitosLens.discs")
            assert got["query"]["profile"] == profile and float(got["query"]["f_number"]) == 1.2
            assert float(got["query"]["focal_length_mm"]) == 85.0
            want = discs_payload(got["query"])
            assert got["discs"] == want["discs"]  # what was fetched is what Python computes
            masks = {
                k: np.array(v["alpha"], float).reshape(v["size"], v["size"]) / 255 for k, v in want["discs"].items()
            }
            # what is drawn: the two cells of the canvas, read back from the screen
            rgb = np.asarray(Image.open(io.BytesIO(page.locator(".portraitos-discs").screenshot())).convert("RGB"))
            fill = np.array([242, 214, 128], dtype=np.float64)
            weight = np.clip(
                1.0 - np.linalg.norm(rgb.astype(np.float64) - fill, axis=-1) / np.linalg.norm(fill - 17), 0.0, 1.0
            )
            half = weight.shape[1] // 2
            drawn = {"centre": _disc_shapes(weight[:, :half]), "corner": _disc_shapes(weight[:, half:])}
            computed = {k: _disc_shapes(masks[k]) for k in ("centre", "corner")}
            for k in drawn:
                assert drawn[k][1] == pytest.approx(computed[k][1], abs=0.05), (profile, k, drawn, computed)
            ratio = drawn["corner"][0] / drawn["centre"][0]
            assert ratio == pytest.approx(computed["corner"][0] / computed["centre"][0], rel=0.08), (drawn, computed)
            if profile == "ideal":
                assert computed["corner"] == computed["centre"]
            else:  # a cat's eye at the corner, wide open
                assert (
                    computed["corner"][1] < 0.85
                    and "profile classic 85 f/1.2"
                    in page.locator(".portraitos-readout [data-key='profile']").inner_text()
                )
    finally:
        editor.set_widget(page, "lens_profile", "ideal")
        editor.set_widget(page, "f_number", 1.8)
    assert _pack_problems(problems) == []
