#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python: Chromium (the editor tests drive it through
# playwright), Node.js (the frontend's own search code, the lens-maths parity test) and redis-server (the
# broker of the batch runner's tests, headless/batch). Installed only
# when missing: about 30 s the first time, well under a second after.
set -euo pipefail
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -n "$missing" ] || exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
