"""A warning a node raises is shown on the node in the editor, not only in the server log and /history:
LensBokeh's depth-lens mismatch (a 135 mm lens on a depth made for 85 mm) in a real browser, on every
frontend of the matrix (the one ComfyUI pins and each in ``scripts/frontends.txt``), in the classic
canvas and in the Nodes 2.0 renderer.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from portraitos.headless.server import ComfyServer
from portraitos.testing.browser_host import launch_browser, write_editor_settings
from portraitos.testing.comfy_host import frontends

pytestmark = pytest.mark.slow

MODES = ["classic", "nodes2"]
FRONTENDS = frontends()
MISMATCH = "the depth was made for focal length 85 mm (here 135 mm)"


@pytest.fixture(scope="module", params=FRONTENDS, ids=[f"frontend-{v}" for v, _ in FRONTENDS])
def editor(request, tmp_path_factory):
    version, front_end_root = request.param
    work = tmp_path_factory.mktemp(f"warnings-{version}")
    write_editor_settings(work)
    server = ComfyServer(work, front_end_root=front_end_root)
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((96, 128, 3)) * 255).astype(np.uint8)).save(server.input_dir / "warn_subject.png")
    server.start()
    try:
        with launch_browser() as browser:
            yield server, browser
    finally:
        server.stop()


@pytest.mark.parametrize("mode", MODES)
def test_depth_lens_mismatch_is_shown_on_the_lens_node(editor, mode):
    server, browser = editor
    status, _ = server.post_json("/settings/Comfy.VueNodes.Enabled", mode == "nodes2")
    assert status == 200
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(server.base)
    page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=60_000)
    page.wait_for_function("app.extensions.some((e) => e.name === 'PortraitOS.LensPanel')", timeout=30_000)
    # LoadImage → DepthEstimate (weight-free prior, made for 85 mm) → LensBokeh at 135 mm → PreviewImage;
    # another f-number per renderer, so the second page's run is not answered from ComfyUI's cache
    page.evaluate(
        """async (fNumber) => {
        app.graph.clear();
        const add = (type, x, y) => {
            const n = LiteGraph.createNode(type); app.graph.add(n); n.pos = [x, y]; return n;
        };
        const set = (n, name, v) => { n.widgets.find((w) => w.name === name).value = v; };
        const img = add('LoadImage', 20, 40);
        set(img, 'image', 'warn_subject.png');
        const dep = add('DepthEstimate', 20, 420);
        set(dep, 'focal_length_mm', 85);
        const lb = add('LensBokeh', 420, 40);
        set(lb, 'focal_length_mm', 135);
        set(lb, 'f_number', fNumber);
        set(lb, 'depth_lens', 'warn if different');
        img.connect(0, dep, 0);
        img.connect(0, lb, 0);
        dep.connect(0, lb, 1);
        const pv = add('PreviewImage', 860, 40);
        lb.connect(0, pv, 0);
        // LightingTint with a key light but no depth: its warning goes into a text widget on the node
        const lit = add('LightingTint', 860, 330);
        set(lit, 'key_strength', 0.5);
        img.connect(0, lit, 0);
        const pv2 = add('PreviewImage', 1200, 330);
        lit.connect(0, pv2, 0);
        await app.loadGraphData(app.graph.serialize());
        window.portraitosTestNode = app.graph.nodes.find((n) => n.type === 'LensBokeh');
        app.canvas.ds.offset = [0, 0];
        app.canvas.ds.scale = 1;
        app.canvas.setDirty(true, true);
        await app.queuePrompt(0, 1);
    }""",
        {"classic": 2.0, "nodes2": 2.8}[mode],
    )
    try:
        page.wait_for_function("(portraitosTestNode.portraitosLens?.warnings ?? []).length > 0", timeout=180_000)
    except Exception as e:
        raise AssertionError(f"no warning reached the node: {json.dumps(server.get_json('/history'))[-2000:]}") from e
    box = page.locator(".portraitos-lens .portraitos-warnings")
    box.wait_for(state="visible", timeout=10_000)
    text = box.inner_text()
    assert MISMATCH in text and "use the depth's lens" in text, text
    # on screen, inside the node's panel: not clipped away, not behind another element
    rect = box.bounding_box()
    assert rect and rect["width"] > 100 and rect["height"] >= 12, rect
    centre = page.evaluate(
        """(r) => { const el = document.elementFromPoint(r.x + 10, r.y + r.height / 2);
        return el ? el.closest('.portraitos-warnings') !== null : false; }""",
        rect,
    )
    assert centre, "the warning is covered by another element"
    # another node's warning, in the text widget the pack adds under its inputs
    tint = "key_strength 0.5 has no effect without depth"
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('.portraitos-warnings')].some((e) => e.innerText.includes(t))",
        arg=tint,
        timeout=60_000,
    )
    other = page.locator(".portraitos-warnings", has_text=tint)
    other.scroll_into_view_if_needed()
    rect = other.bounding_box()
    assert other.is_visible() and rect and rect["width"] > 100 and rect["height"] >= 12, rect
    page.screenshot(path=str(server.workdir / f"warning_{mode}.png"))
    # kept with the node: the warning survives loading the graph again (tab switch, reload)
    page.evaluate(
        """async () => {
        await app.loadGraphData(app.graph.serialize());
        window.portraitosTestNode = app.graph.nodes.find((n) => n.type === 'LensBokeh');
    }"""
    )
    page.wait_for_function("portraitosTestNode.portraitosLens?.warnings?.length > 0", timeout=10_000)
    assert MISMATCH in page.locator(".portraitos-lens .portraitos-warnings").inner_text()
    assert not [p for p in problems if "portraitos" in p.lower()], problems
    page.close()
