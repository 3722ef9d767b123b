#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install KATO with its dev tools.
# Idempotent: a second run only re-checks the installation.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.kato-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
