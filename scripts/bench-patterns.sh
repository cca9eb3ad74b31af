#!/usr/bin/env bash
# Pattern-mining benchmark: the loglens Drain miner (agents/benches/patterns.rs, release
# build) and the drain3 Python package (scripts/bench-drain3.py, installed into
# .loglens/bench-venv) on the same Loghub-2.0 2k files, in one run, so the throughput
# ratio is measured on one machine at one time. Figures go in docs/benchmarks.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DATA="${LOGLENS_LOGHUB_DIR:-$ROOT/tests/fixtures/loghub2_2k}"
VENV="$ROOT/.loglens/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import drain3' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "drain3==0.9.11"
fi
LOGLENS_LOGHUB_DIR="$DATA" cargo bench -q -p loglens-agents --bench patterns
"$VENV/bin/python" scripts/bench-drain3.py "$DATA" "${LOGLENS_DRAIN3_REPS:-3}"
