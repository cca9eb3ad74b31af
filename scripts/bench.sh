#!/usr/bin/env bash
# Benchmarks (release build). Starts llama-server on 127.0.0.1:18090 and the Loki-API
# server on 127.0.0.1:13190, installs ripgrep (Debian) for the scan comparison, and runs
#   - benches/ask_overhead.rs: orchestration overhead of one `ask`;
#   - tools/benches/retrieval.rs: scan throughput against ripgrep over a 1 GiB file
#     (LOGLENS_BENCH_SCAN_MIB to change), LogQL parse throughput, Loki round trip;
#   - agents/benches/hybrid.rs: embedding throughput (embedding server on
#     127.0.0.1:18092), vector search p50/p99 at 50,000 chunks (LOGLENS_BENCH_CHUNKS),
#     the latency hybrid retrieval adds.
# Figures go in docs/benchmarks.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PORT="${LOGLENS_BENCH_MODEL_PORT:-18090}"
LOKI_PORT="${LOGLENS_BENCH_LOKI_PORT:-13190}"
EMBED_PORT="${LOGLENS_BENCH_EMBED_PORT:-18092}"
trap 'scripts/llama-server.sh stop "$PORT"; scripts/loki-server.sh stop "$LOKI_PORT"; scripts/embed-server.sh stop "$EMBED_PORT"' EXIT
command -v rg >/dev/null || { apt-get update -qq && apt-get install -y -qq ripgrep >/dev/null; }
scripts/llama-server.sh start "$PORT"
LOGLENS_BENCH_LOKI_URL="$(scripts/loki-server.sh start "$LOKI_PORT")"
export LOGLENS_BENCH_LOKI_URL
LOGLENS_BENCH_MODEL_URL="http://127.0.0.1:$PORT" cargo bench --bench ask_overhead
LOGLENS_BENCH_MODEL_URL="http://127.0.0.1:$PORT" cargo bench --bench tracing_overhead
cargo bench -p loglens-tools --bench retrieval
scripts/llama-server.sh stop "$PORT"   # the embedding figures want the cores to themselves
scripts/embed-server.sh start "$EMBED_PORT"
LOGLENS_BENCH_EMBED_URL="http://127.0.0.1:$EMBED_PORT" cargo bench -p loglens-agents --bench hybrid
