#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python: Chromium (the editor tests drive it through
# playwright) and Node.js (the frontend's own search code, the lens-maths parity test). Installed only
# when missing: about 30 s the first time, well under a second after.
set -euo pipefail
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
[ -n "$missing" ] || exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
