#!/usr/bin/env bash
# The README's demo command: answers a real question over the bundled incident
# (examples/cart-redis-incident: real logs and the recorded cluster state of a
# Cloud-OpsBench fault case) with the
# embedded defaults: local log files, SQLite in .loglens/, and a local llama-server.
# A different question can be passed as the first argument.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
QUESTION="${1:-Why are customers unable to view or add items to their cart?}"
PORT="${LOGLENS_DEMO_MODEL_PORT:-8080}"

scripts/llama-server.sh start "$PORT"
cargo build --quiet --bin loglens
exec target/debug/loglens ask "$QUESTION" \
  --logs examples/cart-redis-incident \
  --events examples/cluster-states/cart-redis-incident.json \
  --model-url "http://127.0.0.1:$PORT" \
  --model SmolLM2-135M-Instruct
