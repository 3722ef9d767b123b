#!/usr/bin/env bash
# Install the system tools the deploy tests need (idempotent):
#   nginx    - reverse proxy under test (tests/deploy/test_nginx.py)
#   openssl  - self-signed certificates for the TLS tests
#   promtool - from Debian's "prometheus" package (tests/deploy/test_prometheus.py)
# kubectl (with its built-in kustomize) is used when present; it is not in Debian's
# archive, so the kubernetes tests fall back to the repository's kustomize renderer.
#
# Package post-install scripts must not start system-wide daemons (nginx on :80,
# prometheus on :9090): a temporary policy-rc.d denies service starts during the install.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ "${#need[@]}" -eq 0 ]; then
    echo "install-deploy-deps: nginx, openssl and promtool already present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" -eq 1 ]; then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    $SUDO apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 "$@"
}

# The package lists may be missing or stale on a fresh machine: refresh them when a
# package is not known to apt, then install.
for pkg in "${need[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        $SUDO apt-get update -o DPkg::Lock::Timeout=600
        break
    fi
done
if ! apt_install "${need[@]}"; then
    $SUDO apt-get update -o DPkg::Lock::Timeout=600
    apt_install "${need[@]}"
fi

# A package's own init script may still have started a daemon when no policy file
# could be used; stop only the daemons this script's install would have started.
for pkg in "${need[@]}"; do
    case "$pkg" in
        nginx|prometheus)
            if [ -x "/etc/init.d/$pkg" ] && "/etc/init.d/$pkg" status >/dev/null 2>&1; then
                $SUDO "/etc/init.d/$pkg" stop || true
            fi
            ;;
    esac
done

echo "install-deploy-deps: installed ${need[*]}"
