#!/usr/bin/env bash
# Starts or stops a real Loki-API server on 127.0.0.1 for the tests:
# qryn (npm, AGPL-3.0, run as a separate program, not linked or shipped) implements Loki's
# push and query API; it stores in ClickHouse, which chDB (PyPI) provides in-process behind
# scripts/loki/chdb_http.py. No Grafana Loki binary exists in the package registries.
#   scripts/loki-server.sh start [PORT]   # default 13100; prints the base URL
#   scripts/loki-server.sh stop  [PORT]
# Installs into .loglens/loki/ on first use (~1 minute; npm's and pip's caches make later
# installs faster). Data lives in a temporary folder and is deleted on stop.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.loglens/loki"
CMD="${1:-start}"
PORT="${2:-13100}"
CH_PORT=$((PORT + 5000))
RUN="${TMPDIR:-/tmp}/loglens-loki-$PORT"
QRYN_VERSION="3.2.39"
CHDB_VERSION="4.4.0"

install() {
  if [ ! -x "$DIR/venv/bin/python" ] || ! "$DIR/venv/bin/python" -c "import chdb" 2>/dev/null; then
    echo "installing chdb==$CHDB_VERSION (PyPI)" >&2
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q "chdb==$CHDB_VERSION"
  fi
  if [ ! -f "$DIR/node/node_modules/qryn/qryn_node.js" ]; then
    echo "installing qryn@$QRYN_VERSION (npm)" >&2
    mkdir -p "$DIR/node"
    # Its own package.json, or npm walks up and installs into whatever project it finds.
    echo '{"name":"loglens-test-loki","private":true}' >"$DIR/node/package.json"
    npm install --prefix "$DIR/node" --ignore-scripts --no-audit --no-fund --loglevel=error "qryn@$QRYN_VERSION" >"$DIR/npm.log" 2>&1 \
      || { echo "error: npm install qryn failed; see $DIR/npm.log" >&2; tail -n 20 "$DIR/npm.log" >&2; exit 1; }
    # Install scripts are skipped (npm 11 skips them by default, but not under CI=true);
    # qryn's own postinstall only applies its patches, which we do here.
    (cd "$DIR/node" && npx --yes patch-package --patch-dir node_modules/qryn/patches >>"$DIR/npm.log" 2>&1) \
      || { echo "error: patching qryn failed; see $DIR/npm.log" >&2; tail -n 20 "$DIR/npm.log" >&2; exit 1; }
  fi
}

ready() { curl -sf "http://127.0.0.1:$PORT/loki/api/v1/labels" 2>/dev/null | grep -q success; }

case "$CMD" in
  start)
    if ready; then echo "http://127.0.0.1:$PORT"; exit 0; fi
    install
    rm -rf "$RUN" && mkdir -p "$RUN/chdb"
    nohup "$DIR/venv/bin/python" "$ROOT/scripts/loki/chdb_http.py" "$CH_PORT" "$RUN/chdb" >"$RUN/chdb.log" 2>&1 &
    echo $! >"$RUN/chdb.pid"
    for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$CH_PORT/ping" >/dev/null 2>&1 && break; sleep 0.5; done
    # SAMPLES_DAYS/LABELS_DAYS: qryn's retention (default 7 days) silently drops older
    # entries; tests push recorded incidents with their original, older timestamps.
    # LINE_FMT=go_native: line_format with Go's text/template, as Loki does (qryn's
    # default, Handlebars, renders Loki's `{{.msg}}` as nothing).
    # exec: the recorded pid is node's own, so `stop` can end it.
    (cd "$DIR/node" && exec env CLICKHOUSE_SERVER=127.0.0.1 CLICKHOUSE_PORT="$CH_PORT" CLICKHOUSE_DB=loki \
      PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=error SAMPLES_DAYS=3650 LABELS_DAYS=3650 LINE_FMT=go_native \
      node node_modules/qryn/qryn_node.js) >"$RUN/qryn.log" 2>&1 &
    echo $! >"$RUN/qryn.pid"
    for _ in $(seq 1 120); do
      if ready; then echo "http://127.0.0.1:$PORT"; exit 0; fi
      sleep 0.5
    done
    echo "error: the Loki-API server did not start; see $RUN/qryn.log and $RUN/chdb.log" >&2
    tail -n 20 "$RUN/qryn.log" "$RUN/chdb.log" >&2 || true
    exit 1
    ;;
  stop)
    for p in qryn chdb; do
      [ -f "$RUN/$p.pid" ] && kill "$(cat "$RUN/$p.pid")" 2>/dev/null || true
    done
    rm -rf "$RUN"
    ;;
  *) echo "usage: $0 start|stop [PORT]" >&2; exit 2 ;;
esac
