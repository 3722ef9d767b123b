#!/usr/bin/env bash
# Debian packages the test suite runs for real: Redis, ClickHouse, nginx, Prometheus
# (promtool and the server), ab (apache2-utils), openssl, and wrk (bench/overhead.py).
# Installs only what is missing.
set -euo pipefail

packages=(redis-server clickhouse-server nginx prometheus apache2-utils openssl wrk)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
# The packages start system services; the tests start their own processes on free ports.
for service in redis-server clickhouse-server nginx prometheus; do
  $SUDO service "$service" stop >/dev/null 2>&1 || true
done
