"""End-to-end demo: start ComfyUI headless, submit the default shipped workflow over HTTP, save the result.

Run through ``bash scripts/demo.sh`` (which provisions first). The server is the one launcher's
(``headless/server.py``); the sample photo and depth come from ``validation/samples.py``. Writes ``out/``
and always stops the server.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from portraitos.headless.server import ComfyServer
from portraitos.validation.samples import write_astronaut, write_motorcycle

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

DEFAULT_WORKFLOW = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"


def main() -> int:
    workflow_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_WORKFLOW
    out_dir = REPO / "out"
    out_dir.mkdir(exist_ok=True)
    graph = json.loads(workflow_path.read_text())
    with tempfile.TemporaryDirectory(prefix="portraitos-demo-") as tmp:
        server = ComfyServer(Path(tmp))
        write_motorcycle(server.input_dir)
        write_astronaut(server.input_dir)
        t0 = time.time()
        server.start()
        try:
            print(f"ComfyUI up at {server.base} in {time.time() - t0:.1f}s; submitting {workflow_path.name}")
            t1 = time.time()
            hist, messages = server.run_prompt(graph)
            status = hist.get("status", {})
            if status.get("status_str") != "success":
                print(json.dumps(status, indent=1)[:4000])
                return 1
            progress = [m for m in messages if m["type"] == "progress"]
            print(f"workflow ran in {time.time() - t1:.1f}s ({len(progress)} progress messages)")
            written = []
            for node_id, node_out in hist["outputs"].items():
                for img in node_out.get("images", []):
                    q = urllib.parse.urlencode({k: img[k] for k in ("filename", "subfolder", "type")})
                    data = server.get(f"/view?{q}")
                    dest = out_dir / Path(img["filename"]).name
                    dest.write_bytes(data)
                    written.append(dest)
                for text in node_out.get("text", []):
                    print(f"node {node_id}: {text}")
            for p in written:
                print(f"wrote {p.relative_to(REPO)}")
            return 0 if written else 1
        finally:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
