#!/usr/bin/env bash
# The pack as the Comfy Registry and ComfyUI-Manager install it, not as a git clone:
#   1. `comfy node validate` and `comfy node pack` (comfy-cli from PyPI, in .venv-comfycli/) build the
#      Registry zip from the git-tracked files, as `comfy node publish` uploads it;
#   2. the zip is unpacked into the custom_nodes of a fresh copy of ComfyUI (no link to this checkout);
#   3. its requirements.txt is installed line by line with `pip install <line>`, as ComfyUI-Manager does,
#      into a Python that has only ComfyUI's own requirements (.venv-registry/: torch and
#      scripts/requirements-host.txt; the pack's own packages are removed first, so each run installs them
#      from the zip's list; onnxruntime is not installed, as the Manager does not);
#   4. ComfyUI starts from that copy, every PortraitOS node must load, the default template
#      (workflows/api/portrait_85mm_f1.8_warm.json) runs, and its depth must have body relief (the pose
#      model from the zip).
# Needs scripts/provision.sh first (the pinned ComfyUI and .venv for the test client). Run by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMFY_CLI_VERSION="1.23.0"
log() { printf '[registry] %s\n' "$*" >&2; }
export PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. comfy-cli from PyPI (and ruff, which `comfy node validate` runs for its security checks)
CLI="$ROOT/.venv-comfycli"
if [ "$(cat "$CLI/.portraitos-stamp" 2>/dev/null)" != "comfy-cli==$COMFY_CLI_VERSION" ]; then
  log "installing comfy-cli==$COMFY_CLI_VERSION into $CLI"
  rm -rf "$CLI"
  python3 -m venv "$CLI"
  "$CLI/bin/python" -m pip install --quiet "comfy-cli==$COMFY_CLI_VERSION" ruff
  echo "comfy-cli==$COMFY_CLI_VERSION" > "$CLI/.portraitos-stamp"
fi
comfy=("$CLI/bin/python" -m comfy_cli --skip-prompt --no-enable-telemetry)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/portraitos-registry.XXXXXX")"
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$WORK"' EXIT
validate_log="$WORK/validate.log"
"${comfy[@]}" node validate 2>&1 | tee "$validate_log" >&2
grep -q "All validation checks passed" "$validate_log" || { log "comfy node validate did not pass"; exit 1; }
# `comfy node pack` writes node.zip into the current folder: pack from a scratch copy of the tracked
# files' folder structure would lose git; pack here and move the zip out at once
rm -f "$ROOT/node.zip"
"${comfy[@]}" node pack >&2
mv "$ROOT/node.zip" "$WORK/node.zip"
log "Registry zip: $(du -h "$WORK/node.zip" | cut -f1), $(unzip -Z1 "$WORK/node.zip" | wc -l) files"

# 2. a fresh ComfyUI (the pinned one, copied without its custom nodes, models, inputs or outputs)
HOST="$(cat "$ROOT/.comfyui-path" 2>/dev/null || echo "$ROOT/.comfyui")"
[ -f "$HOST/main.py" ] || { log "no ComfyUI at $HOST: run scripts/provision.sh first"; exit 1; }
mkdir -p "$WORK/ComfyUI"
tar -C "$HOST" --exclude=./custom_nodes --exclude=./models --exclude=./input --exclude=./output \
  --exclude=./user --exclude=./temp --exclude='*/__pycache__' -cf - . | tar -C "$WORK/ComfyUI" -xf -
mkdir -p "$WORK/ComfyUI/custom_nodes/PortraitOS" "$WORK/ComfyUI/models"
unzip -q "$WORK/node.zip" -d "$WORK/ComfyUI/custom_nodes/PortraitOS"

# 3. ComfyUI's own Python (kept between runs: torch is large), then the zip's requirements line by line
VENV="$ROOT/.venv-registry"
stamp="torch2.14.1-$(sha256sum "$ROOT/scripts/requirements-host.txt" | cut -c1-16)"
if [ "$(cat "$VENV/.portraitos-stamp" 2>/dev/null)" != "$stamp" ]; then
  log "building $VENV: torch and ComfyUI's requirements only (first run takes several minutes)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet torch==2.14.1 torchvision==0.29.1 \
    -r "$ROOT/scripts/requirements-host.txt" websocket-client
  echo "$stamp" > "$VENV/.portraitos-stamp"
fi
PY="$VENV/bin/python"
# what only the pack asks for goes, so the Manager-style install below really installs it
"$PY" -m pip uninstall --quiet -y OpenEXR opencv-python-headless opencv-python insightface onnxruntime 2>/dev/null || true
while IFS= read -r line || [ -n "$line" ]; do
  line="$(printf '%s' "$line" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')"
  case "$line" in ''|'#'*) continue ;; esac
  log "pip install $line"
  "$PY" -m pip install --quiet "$line"
done < "$WORK/ComfyUI/custom_nodes/PortraitOS/requirements.txt"

# 4. load, run the default template, check body relief (the test client runs in the pack's .venv)
COMFYUI_DIR="$WORK/ComfyUI" "$ROOT/.venv/bin/python" "$ROOT/scripts/registry_run.py" \
  --python "$PY" --zip "$WORK/node.zip" --work "$WORK/run"
log "the Registry zip installs, loads and runs the default template with body relief"
