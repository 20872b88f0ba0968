"""Regenerate the editor workflows ``workflows/*.json`` from the API graphs in ``workflows/api/``.

.venv/bin/python scripts/build_workflows.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from comfy_host import load_in_process  # noqa: E402
from workflow_format import api_to_ui  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "in").mkdir()
        (Path(tmp) / "out").mkdir()
        nodes = load_in_process(Path(tmp) / "in", Path(tmp) / "out")
        m = nodes.NODE_CLASS_MAPPINGS
        for api in sorted((REPO / "workflows" / "api").glob("*.json")):
            ui = api_to_ui(json.loads(api.read_text()), lambda t: m[t].INPUT_TYPES(), lambda t: list(m[t].RETURN_TYPES))
            dest = REPO / "workflows" / api.name
            dest.write_text(json.dumps(ui, indent=1) + "\n")
            print(f"wrote {dest.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
