#!/usr/bin/env bash
# Self-signed TLS certificate for nginx (PSMP phase 2 testing; use a real CA in production).
#   scripts/deploy-self-signed-cert.sh [OUTPUT_DIR] [HOSTNAME]
# Writes OUTPUT_DIR/cert.pem and OUTPUT_DIR/key.pem (default deploy/nginx/ssl, localhost).
set -euo pipefail

out="${1:-$(dirname "$0")/../deploy/nginx/ssl}"
host="${2:-localhost}"
mkdir -p "$out"
openssl req -x509 -nodes -days 365 -newkey rsa:2048 \
    -subj "/CN=${host}" \
    -addext "subjectAltName=DNS:${host},DNS:localhost,IP:127.0.0.1" \
    -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null
chmod 600 "$out/key.pem"
chmod 644 "$out/cert.pem"
echo "wrote $out/cert.pem and $out/key.pem for ${host}"
