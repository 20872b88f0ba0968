#!/usr/bin/env bash
# The main job end to end: provision, start ComfyUI headless on 127.0.0.1 (headless/server.py, the one
# launcher), run the default workflow workflows/api/portrait_85mm_f1.8_warm.json (LoadImage + DepthEstimate
# + LightingTint + LensBokeh 85 mm f/1.8 + SaveImage, with previews) over the HTTP API, write out/, stop.
# Another API-format workflow can be named: bash scripts/demo.sh workflows/api/<name>.json
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/provision.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/tools/demo.py" "$@"
