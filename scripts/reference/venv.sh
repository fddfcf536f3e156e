#!/usr/bin/env bash
# The pinned Python packages the reference files are generated with, in a
# venv cached outside the clone. Prints the venv's python. Only the
# reference generators use it; tests read the committed files.
set -euo pipefail
venv="${SOCIALPIPE_REFERENCE_VENV:-$HOME/.cache/socialpipe-reference-venv}"
pins="vaderSentiment==3.3.2 nade==0.3.1"
marker="$venv/.socialpipe-installed"
if [[ ! -x "$venv/bin/python" || "$(cat "$marker" 2>/dev/null)" != "$pins" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins >&2
  echo "$pins" >"$marker"
fi
echo "$venv/bin/python"
