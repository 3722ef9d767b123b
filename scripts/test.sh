#!/usr/bin/env bash
# The whole test suite: installs what it needs (Python packages, Debian servers), lints,
# then runs pytest. Long soak, chaos and benchmark runs are separate (see docs/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/install-system-deps.sh
.venv/bin/ruff check kato tests bench
.venv/bin/ruff format --check kato tests bench
.venv/bin/mypy kato bench tests  # the engine's annotations also bind at run time: mypyc compiles it
exec .venv/bin/python -m pytest -m "not slow" "$@"
