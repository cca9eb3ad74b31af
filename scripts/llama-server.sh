#!/usr/bin/env bash
# Starts or stops the local llama-server on 127.0.0.1.
#   scripts/llama-server.sh start [PORT]   # default 8080; waits until the model is loaded
#   scripts/llama-server.sh stop  [PORT]
# Its log goes to .loglens/llama-server-PORT.log. `start` does nothing if a server already
# answers on PORT.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.loglens"
CMD="${1:-start}"
PORT="${2:-8080}"
PIDFILE="$LOCAL/llama-server-$PORT.pid"
LOG="$LOCAL/llama-server-$PORT.log"
URL="http://127.0.0.1:$PORT"

loaded() { curl -sf "$URL/v1/models" 2>/dev/null | grep -q '"data"'; }

case "$CMD" in
  start)
    if loaded; then echo "llama-server already running at $URL" >&2; exit 0; fi
    MODEL="$("$ROOT/scripts/install-model.sh" | tail -n 1)"
    echo "starting llama-server at $URL (log: $LOG)" >&2
    # -c 4096: the context loglens budgets for; -np 1: one request at a time (2 cores);
    # --jinja: the model's own chat template.
    nohup "$LOCAL/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$PORT" \
      -c 4096 -np 1 -t "$(nproc)" --jinja --no-webui >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 240); do
      if loaded; then echo "llama-server ready at $URL" >&2; exit 0; fi
      if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "error: llama-server exited; last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; exit 1
      fi
      sleep 0.5
    done
    echo "error: llama-server did not load its model within 120 s; see $LOG" >&2
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
