#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a fixed budget (default 600 s each), two at a time,
# on nightly Rust with cargo-fuzz (installed if missing). Not part of scripts/test.sh:
# fuzzing is open-ended. CI replays the committed corpus on stable Rust instead (the
# fuzz_corpus tests in tools/, agents/ and tests/integration/adversarial.rs).
#   scripts/fuzz.sh            # every target, 600 s each
#   scripts/fuzz.sh 60 logql   # one target, 60 s
#   scripts/fuzz.sh --replay   # every target over its committed corpus, once
# Inputs are at most FUZZ_MAX_LEN bytes (8192). The committed corpus, fuzz/corpus/<target>,
# is read, never written: libFuzzer deletes an input from the folder it writes to when it
# finds a smaller one that reaches the same code, so new inputs go to fuzz/new/<target>
# (ignored by git). To keep the ones that add coverage:
#   cd fuzz && cargo +nightly fuzz run -O <target> corpus/<target> new/<target> -- -merge=1
# A crash is saved in fuzz/artifacts/<target> and the run fails. Add each crash as a
# regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
TARGETS=(log_line loki_export logql kubectl model_answer alertmanager slack)
REPLAY=0
if [ "${1:-}" = "--replay" ]; then REPLAY=1; shift; fi
SECS="${1:-600}"
if [ "$#" -gt 1 ]; then TARGETS=("${@:2}"); fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz build -O
mkdir -p logs
run() {
  local t="$1"
  mkdir -p "corpus/$t" "new/$t"
  if [ "$REPLAY" = 1 ]; then
    cargo +nightly fuzz run -O "$t" "corpus/$t" -- -runs=0 >"logs/$t.log" 2>&1
  else
    cargo +nightly fuzz run -O "$t" "new/$t" "corpus/$t" -- -max_total_time="$SECS" -max_len="${FUZZ_MAX_LEN:-8192}" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1
  fi
}
status=0
for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do
  pids=()
  for t in "${TARGETS[@]:i:2}"; do run "$t" & pids+=("$!:$t"); done
  for p in "${pids[@]}"; do
    if wait "${p%%:*}"; then
      echo "${p#*:}: ok ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/${p#*:}.log" | grep -Eo '[0-9]+$' || echo '?') runs)"
    else
      echo "${p#*:}: FAILED (see fuzz/logs/${p#*:}.log and fuzz/artifacts/${p#*:})"; status=1
    fi
  done
done
exit "$status"
