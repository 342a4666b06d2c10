#!/usr/bin/env bash
# Regenerates docs/screenshots/: the real kiosk window under a virtual display (Xvfb, Mesa's
# software OpenGL), walked through every screen in both languages by `kiosk screenshots`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -p kiosk
xvfb-run -a -s "-screen 0 1280x800x24" "${CARGO_TARGET_DIR:-target}/debug/kiosk" screenshots --out docs/screenshots
xvfb-run -a -s "-screen 0 1440x900x24" "${CARGO_TARGET_DIR:-target}/debug/kiosk" screenshots --station --out docs/screenshots
