#!/usr/bin/env bash
# The whole check: lint (ruff), then the test suite: engine unit tests, in-process ComfyUI tests,
# live-server HTTP tests. Extra arguments go to pytest (e.g. -m "not live", --device cuda).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install_system_deps.sh"   # Chromium and Node.js for the editor tests, when missing
bash "$ROOT/scripts/provision.sh"
cd "$ROOT"
"$ROOT/.venv/bin/ruff" check .
"$ROOT/.venv/bin/ruff" format --check .
exec "$ROOT/.venv/bin/python" -m pytest "$@"
