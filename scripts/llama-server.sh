#!/usr/bin/env bash
# Starts or stops a local llama-server on 127.0.0.1.
#   scripts/llama-server.sh start [PORT]   # default 8080; waits until the model is loaded
#   scripts/llama-server.sh stop  [PORT]
# By default it serves the chat model (SmolLM2, scripts/install-model.sh). Other scripts
# reuse it for other models through the environment (scripts/embed-server.sh does):
#   LLAMA_MODEL  the GGUF file to serve
#   LLAMA_ARGS   the server options after the model and address
#   LLAMA_NAME   the name of its log and pid files (default llama-server)
# Its log goes to .loglens/NAME-PORT.log. `start` does nothing if a server already
# answers on PORT.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.loglens"
CMD="${1:-start}"
PORT="${2:-8080}"
NAME="${LLAMA_NAME:-llama-server}"
PIDFILE="$LOCAL/$NAME-$PORT.pid"
LOG="$LOCAL/$NAME-$PORT.log"
URL="http://127.0.0.1:$PORT"

loaded() { curl -sf "$URL/v1/models" 2>/dev/null | grep -q '"data"'; }

case "$CMD" in
  start)
    if loaded; then echo "$NAME already running at $URL" >&2; exit 0; fi
    # Builds llama-server and fetches the chat model when missing.
    CHAT_MODEL="$("$ROOT/scripts/install-model.sh" | tail -n 1)"
    MODEL="${LLAMA_MODEL:-$CHAT_MODEL}"
    # Chat defaults: -c 4096, the context loglens budgets for; -np 1, one request at a
    # time (2 cores); --jinja, the model's own chat template.
    read -r -a ARGS <<<"${LLAMA_ARGS:--c 4096 -np 1 --jinja}"
    echo "starting $NAME at $URL (log: $LOG)" >&2
    nohup "$LOCAL/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$PORT" \
      "${ARGS[@]}" -t "$(nproc)" --no-webui >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 240); do
      if loaded; then echo "$NAME ready at $URL" >&2; exit 0; fi
      if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "error: $NAME exited; last lines of $LOG:" >&2; tail -n 20 "$LOG" >&2; exit 1
      fi
      sleep 0.5
    done
    echo "error: $NAME did not load its model within 120 s; see $LOG" >&2
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
