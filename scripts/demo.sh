#!/usr/bin/env bash
# The main job end to end: provision, start ComfyUI headless on 127.0.0.1, run the default workflow
# (LoadImage + DepthLoad + LensBokeh + SaveImage, 85 mm f/1.8) over the HTTP API, write out/, stop.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/provision.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/tools/demo.py" "$@"
