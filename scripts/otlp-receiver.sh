#!/usr/bin/env bash
# Starts or stops a real OTLP receiver on 127.0.0.1 for the tests: rotel (PyPI `rotel`, a
# Rust OpenTelemetry collector, Apache-2.0). It takes OTLP over gRPC on PORT and over HTTP
# on PORT+1 and writes every span and metric it receives to a debug log, so a test can
# check gRPC export of traces and metrics end to end. (It used to forward the traces to
# qryn's Tempo API; under CI's load qryn dropped whole batches and the collector's retries
# held the next ones for minutes, so a test checked qryn, not loglens. Export to a Tempo
# API is tested directly, over OTLP/HTTP.)
#   scripts/otlp-receiver.sh start PORT   # prints the gRPC URL
#   scripts/otlp-receiver.sh stop  PORT
# The debug log is $TMPDIR/loglens-otlp-PORT/received.log.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.loglens/rotel-venv"
CMD="${1:-start}"
PORT="${2:-14317}"
RUN="${TMPDIR:-/tmp}/loglens-otlp-$PORT"
ROTEL_VERSION="0.0.1a15"
AGENT="$VENV/lib/python3.11/site-packages/rotel/rotel-agent"

case "$CMD" in
  start)
    if [ ! -x "$(ls "$VENV"/lib/python3*/site-packages/rotel/rotel-agent 2>/dev/null | head -n 1)" ]; then
      echo "installing rotel==$ROTEL_VERSION (PyPI)" >&2
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install -q "rotel==$ROTEL_VERSION"
    fi
    AGENT="$(ls "$VENV"/lib/python3*/site-packages/rotel/rotel-agent | head -n 1)"
    if [ -f "$RUN/rotel.pid" ] && kill -0 "$(cat "$RUN/rotel.pid")" 2>/dev/null; then
      echo "http://127.0.0.1:$PORT"; exit 0
    fi
    rm -rf "$RUN" && mkdir -p "$RUN"
    # Traces and metrics go nowhere: they are read from the debug log.
    nohup "$AGENT" start \
        --otlp-grpc-endpoint "127.0.0.1:$PORT" --otlp-http-endpoint "127.0.0.1:$((PORT + 1))" \
        --exporters drop:blackhole --exporters-traces drop --exporters-metrics drop \
        --debug-log traces --debug-log metrics --debug-log-verbosity detailed \
        >"$RUN/received.log" 2>&1 &
    echo $! >"$RUN/rotel.pid"
    for _ in $(seq 1 40); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "http://127.0.0.1:$PORT"; exit 0; fi
      sleep 0.25
    done
    echo "error: the OTLP receiver did not start; see $RUN/received.log" >&2
    tail -n 20 "$RUN/received.log" >&2 || true
    exit 1
    ;;
  stop)
    [ -f "$RUN/rotel.pid" ] && kill "$(cat "$RUN/rotel.pid")" 2>/dev/null || true
    rm -rf "$RUN"
    ;;
  *) echo "usage: $0 start|stop PORT" >&2; exit 2 ;;
esac
