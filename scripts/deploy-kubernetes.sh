#!/usr/bin/env bash
# Kubernetes (PSMP phase 4): render, validate server-side (dry run), apply, wait for rollout.
#   scripts/deploy-kubernetes.sh development|production
set -euo pipefail
cd "$(dirname "$0")/.."

overlay="${1:?usage: $0 development|production}"
dir="deploy/kubernetes/overlays/${overlay}"
[ -d "$dir" ] || { echo "no overlay $dir" >&2; exit 2; }
namespace="$(kubectl kustomize "$dir" | awk '/^kind: Namespace/{ns=1} ns && /^  name:/{print $2; exit}')"

if [ "$overlay" = "production" ] && ! kubectl -n "$namespace" get secret kato-credentials >/dev/null 2>&1; then
    echo "create the credentials first:" >&2
    echo "  kubectl create namespace $namespace" >&2
    echo "  kubectl -n $namespace create secret generic kato-credentials --from-literal=CLICKHOUSE_PASSWORD=..." >&2
    exit 1
fi

kubectl apply -k "$dir" --dry-run=server >/dev/null
kubectl apply -k "$dir"
for sts in redis clickhouse qdrant; do
    kubectl -n "$namespace" rollout status "statefulset/$sts" --timeout=600s
done
kubectl -n "$namespace" rollout status deployment/kato --timeout=600s
kubectl -n "$namespace" get deploy,sts,hpa,pdb,ingress
