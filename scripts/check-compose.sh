#!/usr/bin/env bash
# Checks docker-compose.yml with `docker-compose config` from PyPI (no Docker
# engine needed), installed once into a cached virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${SOCIALPIPE_TOOLS_CACHE:-$HOME/.cache/socialpipe-tools}
VENV="$TOOLS/compose-venv"
if [ ! -x "$VENV/bin/docker-compose" ]; then
  python3 -m venv "$VENV"
  pip() { "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@"; }
  # docker-compose 1.x needs PyYAML 5, whose build breaks under Cython 3.
  pip 'cython<3' wheel setuptools
  pip --no-build-isolation 'PyYAML==5.4.1'
  pip 'docker-compose==1.29.2'
fi
"$VENV/bin/docker-compose" -f docker-compose.yml config --quiet
echo "docker-compose.yml: valid"
