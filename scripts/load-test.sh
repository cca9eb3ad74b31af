#!/usr/bin/env bash
# Load and soak test of the HTTP API: many concurrent asks against one small model.
#   scripts/load-test.sh [DURATION] [CONNECTIONS] [QPS]   # default 10m, 32, unpaced
# QPS paces the load (oha -q): without it each connection sends again as soon as it is
# answered, and on a 2-core machine the load generator and the flood of 429s take the CPU
# the model needs; with it, the load is many asks at a steady rate.
# What it does, and why:
#   1. installs oha, an HTTP load generator (cargo install oha --locked, MIT, into
#      ~/.cache/loglens/tools; a few minutes, once);
#   2. starts llama-server with the test model on 127.0.0.1:18095 (one slot, as on a
#      small CPU box) and builds loglens (release);
#   3. starts `loglens serve` on 127.0.0.1:18096 over the bundled incident, with one model
#      slot and 4 more asks allowed to wait ([server] max_concurrent_analyses = 1,
#      max_queued_analyses = 4), logging at warn (a request-log line per 429 at this rate
#      would measure the terminal);
#   4. runs oha for DURATION with CONNECTIONS connections, each POSTing
#      /v1/analyze {"query": ..., "pipeline": "baseline"} as fast as answers come, while
#      sampling loglens's resident memory (VmRSS) every 5 s;
#   5. writes oha's JSON, the memory samples and a summary (status codes, latency, RSS at
#      start, peak and end) to .loglens/load/<time>/ and prints the summary.
# Expect: 200s at the model's pace, 429s (with Retry-After) for the rest, no 5xx from
# loglens, and memory that stays flat. (A 502 is the tiny model's reply failing the
# schema twice: the model's quality, counted separately.)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10m}"
CONN="${2:-32}"
QPS="${3:-}"
PACE=()
if [ -n "$QPS" ]; then PACE=(-q "$QPS"); fi
MODEL_PORT=18095
API_PORT=18096
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/loglens/tools"
OUT="$ROOT/.loglens/load/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"

if [ ! -x "$TOOLS/bin/oha" ]; then
  echo "installing oha into $TOOLS (once)" >&2
  cargo install oha --locked --root "$TOOLS" >&2
fi
cleanup() {
  [ -n "${API_PID:-}" ] && kill "$API_PID" 2>/dev/null || true
  scripts/llama-server.sh stop "$MODEL_PORT" || true
}
trap cleanup EXIT
scripts/llama-server.sh start "$MODEL_PORT"
cargo build --release --bin loglens >&2
cat >"$OUT/loglens.toml" <<TOML
[model]
url = "http://127.0.0.1:$MODEL_PORT"
timeout_secs = 300
[database]
url = "sqlite://$OUT/loglens.db"
[logs]
paths = ["$ROOT/examples/cart-redis-incident"]
[server]
listen = "127.0.0.1:$API_PORT"
max_concurrent_analyses = 1
max_queued_analyses = 4
[queue]
workers = 0
TOML
RUST_LOG=warn target/release/loglens --config "$OUT/loglens.toml" serve 2>"$OUT/loglens.log" &
API_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && break
  sleep 0.2
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$API_PID/status"; }
echo "seconds,rss_kib" >"$OUT/rss.csv"
START=$(date +%s)
( while kill -0 "$API_PID" 2>/dev/null; do
    echo "$(( $(date +%s) - START )),$(rss)" >>"$OUT/rss.csv"
    sleep 5
  done ) &
SAMPLER=$!
echo "load: $CONN connections for $DURATION${QPS:+ at $QPS requests/s} against http://127.0.0.1:$API_PORT/v1/analyze" >&2
"$TOOLS/bin/oha" -z "$DURATION" -c "$CONN" "${PACE[@]}" --no-tui --output-format json -m POST \
  -T application/json -d '{"query": "Why are customers unable to view or add items to their cart?", "pipeline": "baseline"}' \
  "http://127.0.0.1:$API_PORT/v1/analyze" >"$OUT/oha.json"
kill "$SAMPLER" 2>/dev/null || true
echo "$(( $(date +%s) - START )),$(rss)" >>"$OUT/rss.csv"
python3 - "$OUT" <<'PY'
import csv, json, sys, pathlib
out = pathlib.Path(sys.argv[1])
o = json.loads((out / "oha.json").read_text())
rss = [int(r["rss_kib"]) for r in csv.DictReader(open(out / "rss.csv")) if r["rss_kib"]]
codes = o.get("statusCodeDistribution", {})
s = o.get("summary", {})
lat = o.get("latencyPercentiles", {})
ok = {k: v for k, v in codes.items() if k in ("200", "429")}
other = {k: v for k, v in codes.items() if k not in ok}
first_min = rss[: max(1, len(rss) // 10)]
last_min = rss[-max(1, len(rss) // 10):]
lines = [
    f"requests: {sum(codes.values())} in {s.get('total', 0):.0f} s ({s.get('requestsPerSec', 0):.0f}/s); status codes: {dict(sorted(codes.items()))}",
    f"answers (200): {codes.get('200', 0)}; turned away (429): {codes.get('429', 0)}; other: {other or 'none'}; connection errors: {o.get('errorDistribution') or 'none'}",
    f"latency p50 {lat.get('p50', 0)*1000:.1f} ms, p99 {lat.get('p99', 0)*1000:.1f} ms, slowest {s.get('slowest', 0):.1f} s",
    f"loglens RSS: start {rss[0]/1024:.1f} MiB, peak {max(rss)/1024:.1f} MiB, end {rss[-1]/1024:.1f} MiB; first-tenth mean {sum(first_min)/len(first_min)/1024:.1f} MiB, last-tenth mean {sum(last_min)/len(last_min)/1024:.1f} MiB ({len(rss)} samples)",
]
(out / "summary.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
print(f"(files in {out})")
PY
