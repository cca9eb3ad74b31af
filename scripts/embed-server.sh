#!/usr/bin/env bash
# Starts or stops llama-server serving the embedding model (all-MiniLM-L6-v2) on 127.0.0.1.
#   scripts/embed-server.sh start [PORT]   # default 8081; waits until the model is loaded
#   scripts/embed-server.sh stop  [PORT]
# loglens reaches it at LOGLENS_EMBED_URL (default http://127.0.0.1:8081), through the
# OpenAI-compatible /v1/embeddings. Its log goes to .loglens/embed-server-PORT.log.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.loglens"
CMD="${1:-start}"
PORT="${2:-8081}"
PIDFILE="$LOCAL/embed-server-$PORT.pid"
LOG="$LOCAL/embed-server-$PORT.log"
URL="http://127.0.0.1:$PORT"

loaded() { curl -sf "$URL/v1/models" 2>/dev/null | grep -q '"data"'; }

case "$CMD" in
  start)
    if loaded; then echo "embedding server already running at $URL" >&2; exit 0; fi
    "$ROOT/scripts/install-model.sh" >/dev/null   # builds llama-server when missing
    MODEL="$("$ROOT/scripts/install-embed-model.sh" | tail -n 1)"
    echo "starting the embedding server at $URL (log: $LOG)" >&2
    # --embeddings: serve /v1/embeddings (mean pooling, from the GGUF). MiniLM reads at
    # most 512 tokens, so 8 slots of 512 share a 4096 context; -b/-ub 4096 lets one
    # micro-batch hold every slot's text (a non-causal model needs a whole input in one).
    nohup "$LOCAL/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$PORT" \
      --embeddings -c 4096 -np 8 -b 4096 -ub 4096 -t "$(nproc)" --no-webui >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
      if loaded; then echo "embedding server ready at $URL" >&2; exit 0; fi
      if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "error: the embedding server exited; last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; exit 1
      fi
      sleep 0.5
    done
    echo "error: the embedding server did not load its model within 60 s; see $LOG" >&2
    exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      kill "$(cat "$PIDFILE")" 2>/dev/null || true
      rm -f "$PIDFILE"
    fi
    ;;
  *) echo "usage: $0 start|stop [PORT]" >&2; exit 2 ;;
esac
