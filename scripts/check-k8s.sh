#!/usr/bin/env bash
# Renders every kustomize overlay in k8s/overlays and validates what it renders, plus
# the Dockerfile (scripts/check_k8s.py says what is checked). Run by scripts/test.sh, so
# CI checks the deployment on every run.
#   1. kubectl (its built-in kustomize) renders each overlay from a temporary copy, with
#      secrets.env.example standing in for the git-ignored secrets.env;
#   2. a Python venv (cached in ~/.cache/loglens/k8s-venv) with kubernetes-validate (the
#      Kubernetes schemas, offline) and dockerfile (Docker's parser) checks them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/loglens"
VENV="$CACHE/k8s-venv"

if ! command -v kubectl >/dev/null 2>&1; then
  echo "installing kubectl (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y -qq kubectl >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq kubectl >/dev/null; }
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import kubernetes_validate, dockerfile" 2>/dev/null; then
  echo "installing kubernetes-validate and dockerfile into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "kubernetes-validate==1.37.0" "dockerfile==3.4.0"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/k8s" "$WORK/k8s"
rendered=()
for overlay in "$WORK"/k8s/overlays/*/; do
  name="$(basename "$overlay")"
  if [ -f "$overlay/secrets.env.example" ]; then
    cp "$overlay/secrets.env.example" "$overlay/secrets.env"
  fi
  kubectl kustomize "$overlay" >"$WORK/$name.yaml"
  rendered+=("$WORK/$name.yaml")
done
kubectl kustomize "$WORK/k8s/dashboards" >/dev/null
"$VENV/bin/python" "$ROOT/scripts/check_k8s.py" "${rendered[@]}" \
  --schemas "$ROOT/k8s/schemas" --dockerfile "$ROOT/Dockerfile" --repo "$ROOT" --self-test
