#!/usr/bin/env bash
# One command: set up this machine and run every check: format, lints, and all tests, including
# those that run the real models on real recordings. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n\033[1m[test]\033[0m %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }
# One build, once: incremental caches would take gigabytes of disk for nothing (as in setup.sh).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step "setup"
deploy/setup.sh

step "test tools (FHIR validators)"
deploy/test-tools.sh

step "fake sound card (PulseAudio null sink) for the audio tests"
deploy/audio-loopback.sh

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "tests"
cargo test --locked --workspace --no-fail-fast

step "all checks passed"
