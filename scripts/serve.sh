#!/usr/bin/env bash
# Start KATO on http://127.0.0.1:8000 with the embedded storage (data in ./kato-data).
# Extra arguments go to `kato serve` (e.g. --port 9000 --workers 2 --data-dir /var/lib/kato).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/kato serve "$@"
