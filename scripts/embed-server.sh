#!/usr/bin/env bash
# Starts or stops llama-server serving the embedding model (all-MiniLM-L6-v2) on 127.0.0.1.
#   scripts/embed-server.sh start [PORT]   # default 8081; waits until the model is loaded
#   scripts/embed-server.sh stop  [PORT]
# loglens reaches it at LOGLENS_EMBED_URL (default http://127.0.0.1:8081), through the
# OpenAI-compatible /v1/embeddings. Its log goes to .loglens/embed-server-PORT.log.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CMD="${1:-start}"
PORT="${2:-8081}"
export LLAMA_NAME=embed-server
if [ "$CMD" = start ]; then
  "$ROOT/scripts/install-model.sh" >/dev/null   # builds llama-server when missing
  LLAMA_MODEL="$("$ROOT/scripts/install-embed-model.sh" | tail -n 1)"
  export LLAMA_MODEL
  # --embeddings: serve /v1/embeddings (mean pooling, from the GGUF). MiniLM reads at
  # most 512 tokens, so 8 slots of 512 share a 4096 context; -b/-ub 4096 lets one
  # micro-batch hold every slot's text (a non-causal model needs a whole input in one).
  export LLAMA_ARGS="--embeddings -c 4096 -np 8 -b 4096 -ub 4096"
fi
exec "$ROOT/scripts/llama-server.sh" "$CMD" "$PORT"
