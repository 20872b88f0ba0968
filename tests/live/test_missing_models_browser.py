"""The frontend's missing-models dialog for a selfie template: on the newest frontend of the matrix
(scripts/frontends.txt), opening ``selfie_85mm_f1.8_warm`` with no model installed lists the files the
template names (``properties.models``: name, official URL, folder) under Missing Models, each with the
folder it goes into, and offers the downloads (the SDXL checkpoint, InstantID's adapter and IdentityNet).
"""

from __future__ import annotations

import json

import pytest

from portraitos.headless.server import ComfyServer
from portraitos.testing.browser_host import launch_browser, write_editor_settings
from portraitos.testing.comfy_host import frontends
from portraitos.testing.shipped_workflows import TEMPLATES

pytestmark = pytest.mark.slow

NEWEST = frontends()[-1]
EXPECTED = {
    "sd_xl_base_1.0.safetensors": "checkpoints",
    "ip-adapter.bin": "instantid",
    "diffusion_pytorch_model.safetensors": "controlnet",
}


def test_selfie_template_opens_the_missing_models_list_on_the_newest_frontend(tmp_path):
    version, root = NEWEST
    assert root is not None, "the matrix has no frontend newer than ComfyUI's pin (scripts/frontends.txt)"
    write_editor_settings(tmp_path)
    server = ComfyServer(tmp_path, front_end_root=root)
    server.start()
    try:
        with launch_browser() as browser:
            page = browser.new_page()
            page.goto(server.base)
            page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=60_000)
            workflow = json.loads((TEMPLATES / "selfie_85mm_f1.8_warm.json").read_text())
            page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
            # the frontend announces the problems, and its details list the missing models
            page.get_by_text("View details").click(timeout=30_000)
            panel = page.get_by_text("Missing Models", exact=True)
            panel.wait_for(state="visible", timeout=30_000)
            page.wait_for_function(
                "(names) => names.every((n) => document.body.innerText.includes(n))",
                arg=list(EXPECTED),
                timeout=30_000,
            )
            text = page.evaluate("document.body.innerText")
            section = text[text.index("Missing Models") :]
            for name, folder in EXPECTED.items():
                after = section[section.index(name) + len(name) :].lstrip()
                assert after.startswith(folder), (name, after[:80])
            assert "Download" in section
            page.screenshot(path=str(tmp_path / f"missing_models_{version}.png"))
    finally:
        server.stop()
