#!/usr/bin/env bash
# The whole test suite: engine unit tests, in-process ComfyUI tests, live-server HTTP tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/provision.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
