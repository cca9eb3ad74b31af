#!/usr/bin/env bash
# Benchmarks (release build): starts llama-server on 127.0.0.1:18090 and runs
# `cargo bench`, which prints the orchestration overhead of one `ask` (see
# benches/ask_overhead.rs). Extra arguments go to `cargo bench`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PORT="${LOGLENS_BENCH_MODEL_PORT:-18090}"
trap 'scripts/llama-server.sh stop "$PORT"' EXIT
scripts/llama-server.sh start "$PORT"
LOGLENS_BENCH_MODEL_URL="http://127.0.0.1:$PORT" cargo bench --bench ask_overhead "$@"
