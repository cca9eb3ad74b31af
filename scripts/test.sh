#!/usr/bin/env bash
# The README's test command: installs and starts what the tests need, runs every test,
# and stops what it started.
#   1. llama-server + SmolLM2-135M (scripts/install-model.sh; the server build is cached
#      in ~/.cache/loglens after the first run), started on 127.0.0.1:18089;
#   1b. llama-server --embeddings + all-MiniLM-L6-v2 (scripts/embed-server.sh; the model is
#      converted to GGUF once, scripts/install-embed-model.sh) on 127.0.0.1:18091;
#   2. a private PostgreSQL on 127.0.0.1:55432 (scripts/postgres.sh);
#   3. a Loki-API server (qryn on chDB) on 127.0.0.1:13100 (scripts/loki-server.sh); it
#      also answers Tempo's API and takes OTLP/HTTP traces;
#   4. an OTLP gRPC receiver (rotel) on 127.0.0.1:14317 that logs the spans and metrics
#      it receives (scripts/otlp-receiver.sh);
#   5. Prometheus's promtool, to check /metrics (scripts/install-promtool.sh);
#   6. scripts/check-k8s.sh: renders every kustomize overlay in k8s/ and validates the
#      objects (Kubernetes schemas, wiring, placement) and the Dockerfile;
#   7. cargo test over the whole workspace, with the servers' URLs in
#      LOGLENS_TEST_MODEL_URL, LOGLENS_TEST_EMBED_URL, LOGLENS_TEST_DATABASE_URL, LOGLENS_TEST_LOKI_URL,
#      LOGLENS_TEST_OTLP_GRPC_URL (+ LOGLENS_TEST_OTLP_LOG) and LOGLENS_TEST_PROMTOOL.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p loglens-tools).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODEL_PORT="${LOGLENS_TEST_MODEL_PORT:-18089}"
EMBED_PORT="${LOGLENS_TEST_EMBED_PORT:-18091}"
PG_PORT="${LOGLENS_TEST_PG_PORT:-55432}"
LOKI_PORT="${LOGLENS_TEST_LOKI_PORT:-13100}"
OTLP_PORT="${LOGLENS_TEST_OTLP_PORT:-14317}"

cleanup() {
  scripts/llama-server.sh stop "$MODEL_PORT" || true
  scripts/embed-server.sh stop "$EMBED_PORT" || true
  scripts/postgres.sh stop "$PG_PORT" || true
  scripts/loki-server.sh stop "$LOKI_PORT" || true
  scripts/otlp-receiver.sh stop "$OTLP_PORT" || true
}
trap cleanup EXIT

scripts/llama-server.sh start "$MODEL_PORT"
scripts/embed-server.sh start "$EMBED_PORT"
export LOGLENS_TEST_EMBED_URL="http://127.0.0.1:$EMBED_PORT"
LOGLENS_TEST_DATABASE_URL="$(scripts/postgres.sh start "$PG_PORT")"
export LOGLENS_TEST_DATABASE_URL
export LOGLENS_TEST_MODEL_URL="http://127.0.0.1:$MODEL_PORT"
LOGLENS_TEST_LOKI_URL="$(scripts/loki-server.sh start "$LOKI_PORT")"
export LOGLENS_TEST_LOKI_URL
LOGLENS_TEST_OTLP_GRPC_URL="$(scripts/otlp-receiver.sh start "$OTLP_PORT")"
export LOGLENS_TEST_OTLP_GRPC_URL
export LOGLENS_TEST_OTLP_LOG="${TMPDIR:-/tmp}/loglens-otlp-$OTLP_PORT/received.log"
LOGLENS_TEST_PROMTOOL="$(scripts/install-promtool.sh)"
export LOGLENS_TEST_PROMTOOL

# Tests, benches and the scripts they run read only what is in this repository: no path
# into ../shared (doc comments may name where public data can come from).
if grep -rnE '(\.\./)+shared/' --include='*.rs' --include='*.sh' --include='*.py' \
    agents tools evals src tests benches scripts 2>/dev/null \
    | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(//|#)' | grep -v 'scripts/make-demo-incident.py'; then
  echo "test.sh: the lines above read outside the repository; copy what they need into tests/fixtures" >&2
  exit 1
fi

if [ "$#" -eq 0 ]; then
  scripts/check-k8s.sh
  cargo test --workspace -- --skip telemetry::
  # The committed fuzz corpora, replayed through the fuzz targets' entry points (stable
  # Rust, no sanitizer): every input the fuzzer kept, and every crash it found, still parses.
  cargo test -p loglens-tools -p loglens-agents --features fuzzing --test fuzz_corpus
  # The trace tests fetch loglens's spans back from qryn's Tempo API. Loaded by the other
  # tests on 2 cores, qryn on chDB was seen to drop whole OTLP batches (the spans were
  # sent: a collector received them all), so these run afterwards, on their own.
  cargo test -p loglens telemetry:: -- --test-threads=1
else
  cargo test --workspace "$@"
fi
