#!/usr/bin/env bash
# Regenerates the committed reference files (needs PyPI; tests do not):
#   scripts/reference/generate.sh [vader|nade]...
set -euo pipefail
cd "$(dirname "$0")/../.."
python="$(scripts/reference/venv.sh)"
for what in "${@:-vader nade}"; do
  for w in $what; do
    case "$w" in
      vader) out=processors/src/sentiment/testdata ;;
      nade) out=processors/src/emotion/testdata ;;
      *) echo "unknown reference: $w" >&2; exit 2 ;;
    esac
    mkdir -p "$out"
    PYTHONHASHSEED=0 "$python" scripts/reference/generate.py "$w" "$out"
  done
done
