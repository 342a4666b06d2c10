#!/usr/bin/env bash
# One command: set up this machine (packages, build, models) and start the kiosk on its embedded
# defaults. Extra arguments go to `kiosk run` (e.g. --config /etc/kiosk/kiosk.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh
exec "${CARGO_TARGET_DIR:-target}/debug/kiosk" run "$@"
