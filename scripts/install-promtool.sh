#!/usr/bin/env bash
# Prints the path of Prometheus's `promtool` (used by the tests to check the /metrics
# output with `promtool check metrics`), installing Debian's `prometheus` package first
# when it is missing. No Prometheus server is started: only the checker is used.
set -euo pipefail
if p="$(command -v promtool)"; then echo "$p"; exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "error: promtool is missing and apt-get needs root: install Debian's 'prometheus' package" >&2; exit 1
fi
echo "installing promtool (Debian package prometheus)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
command -v promtool
