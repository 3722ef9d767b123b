#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install KATO with its dev tools.
# Installing compiles the engine's hot modules with mypyc (a C compiler is needed; see
# kato/engine/compiled.py). Idempotent: a second run only re-checks the installation, and
# reinstalls when the packaging changed or a compiled module's source did.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.kato-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
  || ! .venv/bin/python kato/engine/compiled.py --check >/dev/null; then
  command -v cc >/dev/null || { echo "bootstrap: a C compiler is needed (apt-get install gcc)" >&2; exit 1; }
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
