"""A picture of a shipped workflow on ComfyUI's canvas after it ran (for the docs): a live ComfyUI
with this pack, Debian's chromium driven headless by Playwright.

    .venv/bin/python tools/screenshot_editor.py out/editor.png [workflows/portrait_85mm_f1.8_warm.json]

The docs' pictures of every frontend and renderer come from tests/live/test_templates_browser.py.

Needs the ``playwright`` package and ``/usr/bin/chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from portraitos.headless.server import ComfyServer
from portraitos.validation.samples import write_astronaut, write_motorcycle

REPO = Path(__file__).resolve().parents[1]

# announcement banners above the canvas are not part of the workflow: hide them for the picture
HIDE_BANNERS = """() => {
  for (const el of document.querySelectorAll('div, section, header')) {
    const r = el.getBoundingClientRect();
    if (r.top < 5 && r.height < 60 && r.width > 800 && /Introducing|Try it out/.test(el.textContent)) {
      el.style.display = 'none';
    }
  }
}"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1])
    workflow = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "workflows" / "portrait_85mm_f1.8_warm.json"
    graph = json.loads(workflow.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Path(tmp) / "user" / "default" / "comfy.settings.json"
        settings.parent.mkdir(parents=True)
        # no template browser on first start, no minimap over the nodes
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}))
        server = ComfyServer(Path(tmp)).start()
        try:
            write_astronaut(server.input_dir)
            write_motorcycle(server.input_dir)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(server.base)
                page.wait_for_function("window.app && window.app.graph", timeout=120_000)
                page.keyboard.press("Escape")
                page.evaluate(HIDE_BANNERS)
                page.evaluate("(g) => window.app.loadGraphData(g)", graph)
                page.wait_for_timeout(1500)
                page.evaluate("() => window.app.queuePrompt(0)")
                deadline = time.time() + 300
                while time.time() < deadline:
                    queue = server.get_json("/queue")
                    history = server.get_json("/history")
                    if history and not queue["queue_running"] and not queue["queue_pending"]:
                        break
                    time.sleep(1)
                page.wait_for_timeout(3000)  # previews load
                page.evaluate(HIDE_BANNERS)
                page.evaluate(
                    "() => { window.app.canvas.ds.scale = 1.0; window.app.canvas.ds.offset = [40, 10]; "
                    "window.app.canvas.setDirty(true, true); }"
                )
                page.wait_for_timeout(1000)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), clip={"x": 60, "y": 88, "width": 1500, "height": 640})
                browser.close()
        finally:
            server.stop()
    print(out)


if __name__ == "__main__":
    main()
