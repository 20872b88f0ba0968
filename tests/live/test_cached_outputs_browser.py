"""A second tab that runs an unchanged graph gets every node from ComfyUI's cache, and ComfyUI sends it no
results for them: DepthEstimate and LightingTint must still show their previews and read-outs there
(js/cached_outputs.js takes their last output from /history). Both frontends of the matrix, classic canvas.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from portraitos.headless.server import ComfyServer
from portraitos.testing.browser_host import launch_browser, write_editor_settings
from portraitos.testing.comfy_host import frontends

pytestmark = pytest.mark.slow

FRONTENDS = frontends()
GRAPH = """async () => {
    app.graph.clear();
    const add = (type, x, y) => { const n = LiteGraph.createNode(type); app.graph.add(n); n.pos = [x, y]; return n; };
    const img = add('LoadImage', 20, 40);
    img.widgets.find((w) => w.name === 'image').value = 'cached_subject.png';
    const dep = add('DepthEstimate', 360, 40);
    const lit = add('LightingTint', 720, 40);
    img.connect(0, dep, 0);
    img.connect(0, lit, 0);
    dep.connect(0, lit, lit.inputs.findIndex((i) => i.name === 'depth'));
    const pv = add('PreviewImage', 1080, 40);
    lit.connect(0, pv, 0);
    await app.loadGraphData(app.graph.serialize());
    await app.queuePrompt(0, 1);
}"""
SHOWN = """() => {
    const nodes = (app.rootGraph ?? app.graph).nodes;
    const dep = nodes.find((n) => n.type === 'DepthEstimate'), lit = nodes.find((n) => n.type === 'LightingTint');
    const label = (n, name) => n.outputs.find((o) => o.name === name)?.label ?? '';
    return { depth: label(dep, 'depth'), lighting: label(lit, 'lighting'),
             depthImages: (app.nodeOutputs?.[String(dep.id)]?.images ?? []).length };
}"""


@pytest.mark.parametrize("frontend", FRONTENDS, ids=[f"frontend-{v}" for v, _ in FRONTENDS])
def test_second_tab_shows_cached_previews_and_readouts(tmp_path, frontend):
    version, root = frontend
    write_editor_settings(tmp_path)
    server = ComfyServer(tmp_path, front_end_root=root)
    rng = np.random.default_rng(2)
    Image.fromarray((rng.random((64, 96, 3)) * 255).astype(np.uint8)).save(server.input_dir / "cached_subject.png")
    server.start()
    try:
        with launch_browser() as browser:
            shown = []
            for tab in ("first", "second"):
                page = browser.new_page()
                page.goto(server.base)
                page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=60_000)
                page.wait_for_function(
                    "app.extensions.some((e) => e.name === 'PortraitOS.CachedOutputs')", timeout=30_000
                )
                page.evaluate(GRAPH)
                try:
                    page.wait_for_function(
                        f"(({SHOWN})()).depth.startsWith('depth ') && (({SHOWN})()).lighting.includes('K')",
                        timeout=120_000,
                    )
                except Exception as e:
                    raise AssertionError(f"{tab} tab: no read-out on the nodes: {page.evaluate(SHOWN)}") from e
                shown.append(page.evaluate(SHOWN))
            # the second run was answered from the cache: ComfyUI executed nothing for it
            history = server.get_json("/history")
            last = list(history.values())[-1]
            cached = [m for m in last["status"]["messages"] if m[0] == "execution_cached"]
            assert cached and len(cached[0][1]["nodes"]) >= 3, last["status"]
            assert shown[1]["depth"] == shown[0]["depth"] and shown[1]["lighting"] == shown[0]["lighting"]
            if "depthImages" in shown[0] and shown[0]["depthImages"]:
                assert shown[1]["depthImages"] == shown[0]["depthImages"]  # the depth and matte previews
    finally:
        server.stop()
