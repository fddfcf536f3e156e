#!/usr/bin/env bash
# Regenerates the committed reference files (needs PyPI; tests do not):
#   scripts/reference/generate.sh [vader|nade|embed]...
set -euo pipefail
cd "$(dirname "$0")/../.."
for what in "${@:-vader nade embed}"; do
  for w in $what; do
    case "$w" in
      vader | nade)
        out=processors/src/$([[ $w == vader ]] && echo sentiment || echo emotion)/testdata
        mkdir -p "$out"
        PYTHONHASHSEED=0 "$(scripts/reference/venv.sh text)" scripts/reference/generate.py "$w" "$out"
        ;;
      embed)
        mkdir -p processors/src/embed/testdata
        PYTHONHASHSEED=0 "$(scripts/reference/venv.sh embed)" scripts/reference/embeddings.py \
          processors/src/embed/testdata/minilm-reference.jsonl.gz
        ;;
      *) echo "unknown reference: $w" >&2; exit 2 ;;
    esac
  done
done
