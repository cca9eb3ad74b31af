#!/usr/bin/env bash
# Scan benchmark (tools/benches/scan.rs): the file source's line-filter scan against
# ripgrep on 1 GiB of plain text and 1 GiB of JSON lines, 1% and 10% of lines matching,
# one thread (against rg -j1) and all cores (against rg), paired rounds, median ratios,
# loglens's peak memory. Release build, without the Qdrant and Kubernetes clients (the
# scan needs neither). Figures go in docs/benchmarks.md.
#
#   scripts/bench-scan.sh
#   LOGLENS_BENCH_SCAN_MIB=256 LOGLENS_BENCH_ROUNDS=5 scripts/bench-scan.sh
#   LOGLENS_BENCH_SCAN_REREAD=1 scripts/bench-scan.sh   # files read back from disk first
set -euo pipefail
cd "$(dirname "$0")/.."
command -v rg >/dev/null || { apt-get update -qq && apt-get install -y -qq ripgrep >/dev/null; }
cargo bench -q -p loglens-tools --no-default-features --bench scan
