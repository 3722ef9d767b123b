#!/usr/bin/env bash
# Single-host production stack (PSMP phases 1-3): build, start, wait until HTTPS /health answers.
#   CLICKHOUSE_PASSWORD=... GRAFANA_ADMIN_PASSWORD=... scripts/deploy-compose.sh
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CLICKHOUSE_PASSWORD:?set CLICKHOUSE_PASSWORD}"
: "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"
if [ ! -f deploy/nginx/ssl/cert.pem ] || [ ! -f deploy/nginx/ssl/key.pem ]; then
    echo "deploy/nginx/ssl/cert.pem and key.pem are missing:" >&2
    echo "  scripts/deploy-self-signed-cert.sh   (testing) or copy your CA-issued pair" >&2
    exit 1
fi

VERSION="${VERSION:-$(git describe --tags --always 2>/dev/null || echo dev)}"
GIT_COMMIT="${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
BUILD_DATE="${BUILD_DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
export VERSION GIT_COMMIT BUILD_DATE

compose=(docker compose -f docker-compose.production.yml)
"${compose[@]}" build kato
"${compose[@]}" up -d

for _ in $(seq 1 60); do
    if curl -fsS --cacert deploy/nginx/ssl/cert.pem https://localhost/health >/dev/null 2>&1 \
        || curl -fsSk https://localhost/health >/dev/null 2>&1; then
        echo "KATO ${VERSION} is up: https://localhost/health"
        "${compose[@]}" ps
        exit 0
    fi
    sleep 5
done
echo "KATO did not become healthy in 300 s" >&2
"${compose[@]}" ps >&2
"${compose[@]}" logs --tail=50 kato nginx >&2
exit 1
