"""A headless Chromium for the editor tests: Debian's ``chromium`` driven by the Python ``playwright``
package (its own browser download is not used). ``.ci/run`` installs the browser."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("PORTRAITOS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# editor settings for a test server: no tutorial or minimap in the way, Nodes 2.0 laid out as saved
EDITOR_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.VueNodes.Enabled": False,
    "Comfy.VueNodes.AutoScaleLayout": False,
    "Comfy.Minimap.Visible": False,
}


# Nodes 2.0: the widget labels on this pack's nodes (elements holding a widget's label and nothing else),
# and those cut (their text wider than their box, or their box past the node's right edge)
CUT_LABELS = """() => {
  const graph = app.canvas?.graph ?? app.graph, out = {seen: 0, cut: []};
  for (const el of document.querySelectorAll('[data-node-id]')) {
    const node = graph.getNodeById(el.dataset.nodeId) ?? graph.getNodeById(Number(el.dataset.nodeId));
    if (!String(node?.constructor?.category ?? '').startsWith('PortraitOS') || !el.getClientRects().length) continue;
    const names = new Set((node.widgets ?? []).map((w) => w.label || w.name));
    const right = el.getBoundingClientRect().right;
    for (const t of el.querySelectorAll('.lg-node-widget *')) {
      if (t.children.length || !names.has(t.textContent.trim()) || !t.getClientRects().length) continue;
      out.seen++;
      const r = t.getBoundingClientRect();
      if (t.scrollWidth > t.clientWidth + 1 || r.right > right + 1) {
        out.cut.push({node: node.type, label: t.textContent.trim(), scroll: t.scrollWidth, client: t.clientWidth});
      }
    }
  }
  return out;
}"""


def write_editor_settings(workdir: Path) -> None:
    """The default user's ``comfy.settings.json`` under ``workdir/user`` (ComfyServer's user folder)."""
    folder = workdir / "user" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comfy.settings.json").write_text(json.dumps(EDITOR_SETTINGS))


def chromium_path() -> str:
    path = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    if not path:
        raise RuntimeError(
            f"Chromium not found at {CHROMIUM}: install it with "
            "`apt-get install -y --no-install-recommends chromium` (.ci/run does) or set PORTRAITOS_CHROMIUM"
        )
    return path


@contextlib.contextmanager
def launch_browser():
    """Yield a playwright BrowserContext (``new_page()``) on a fresh profile directory, removed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="portraitos-chromium-")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path(),
                headless=True,
                args=FLAGS,
                viewport={"width": 1400, "height": 900},
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
