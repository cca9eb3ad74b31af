#!/usr/bin/env bash
# Pattern-mining benchmark: the loglens miner (agents/benches/patterns.rs, release build)
# and the drain3 Python package (scripts/bench-drain3.py, installed into
# .loglens/bench-venv) on the same Loghub-2.0 2k files, paired: ROUNDS rounds, each
# running loglens then drain3 on one machine within seconds of each other, so a busy
# machine slows both; the speed ratio reported is the median of the rounds' ratios.
# Accuracy (GA, PA) does not depend on the round and is printed once. Figures go in
# docs/benchmarks.md.
#
#   scripts/bench-patterns.sh            # 5 rounds
#   ROUNDS=9 scripts/bench-patterns.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DATA="${LOGLENS_LOGHUB_DIR:-$ROOT/tests/fixtures/loghub2_2k}"
VENV="$ROOT/.loglens/bench-venv"
ROUNDS="${ROUNDS:-5}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import drain3' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "drain3==0.9.11"
fi
cargo bench -q -p loglens-agents --bench patterns --no-run
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  LOGLENS_LOGHUB_DIR="$DATA" LOGLENS_BENCH_REPS="${LOGLENS_BENCH_REPS:-20}" \
    cargo bench -q -p loglens-agents --bench patterns > "$OUT/loglens.$r"
  "$VENV/bin/python" scripts/bench-drain3.py "$DATA" "${LOGLENS_DRAIN3_REPS:-2}" > "$OUT/drain3.$r"
done
cat "$OUT/loglens.1" "$OUT/drain3.1"
python3 - "$OUT" "$ROUNDS" <<'PY'
import statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def rates(path):
    r = {}
    for line in open(path):
        f = line.split()
        if len(f) == 5 and f[1].isdigit():
            r[f[0]] = float(f[4])
    return r
print(f"\npaired speed, {rounds} rounds: loglens lines/s over drain3 lines/s per round")
print("system      median ratio   rounds")
for system in ["HDFS", "OpenStack", "Spark", "Zookeeper"]:
    ratios = []
    for i in range(1, rounds + 1):
        a, b = rates(f"{out}/loglens.{i}"), rates(f"{out}/drain3.{i}")
        if system in a and system in b:
            ratios.append(a[system] / b[system])
    if ratios:
        shown = " ".join(f"{x:.1f}" for x in ratios)
        print(f"{system:<11} {statistics.median(ratios):>8.1f}x      {shown}")
PY
