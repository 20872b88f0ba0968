"""A picture of a shipped workflow on ComfyUI's canvas after it ran (for the README): a live ComfyUI
with this pack, Debian's chromium driven headless by Playwright.

    .venv/bin/python scripts/screenshot_editor.py docs/editor_after.png [workflows/portrait_85mm_f1.8.json]

Needs the ``playwright`` package and ``/usr/bin/chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from comfy_host import ComfyServer  # noqa: E402
from samples import write_astronaut, write_motorcycle  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1])
    workflow = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "workflows" / "portrait_85mm_f1.8.json"
    graph = json.loads(workflow.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        server = ComfyServer(Path(tmp)).start()
        try:
            write_astronaut(server.input_dir)
            write_motorcycle(server.input_dir)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(server.base)
                page.wait_for_function("window.app && window.app.graph", timeout=120_000)
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
                page.evaluate(
                    "() => { window.app.canvas.ds.scale = 0.62; window.app.canvas.ds.offset = [40, 60]; "
                    "window.app.canvas.setDirty(true, true); }"
                )
                page.wait_for_timeout(1000)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                browser.close()
        finally:
            server.stop()
    print(out)


if __name__ == "__main__":
    main()
