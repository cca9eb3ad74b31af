#!/usr/bin/env bash
# The README's demo command: answers a real question over a bundled incident (real logs
# and the recorded cluster state of a Cloud-OpsBench fault case) with the embedded
# defaults: local log files, SQLite in .loglens/, and a local llama-server.
#
#   scripts/demo.sh [INCIDENT] [QUESTION]
#   scripts/demo.sh --help        lists the incidents
#
# LOGLENS_DEMO_MODEL_PORT picks the model server's port (default 8080).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# name | kind | what happened | the question asked by default
INCIDENTS=(
  "cart-redis-incident|application: a dependency's address|the cart service's Redis address names a host that does not exist (set by an environment variable)|Why are customers unable to view or add items to their cart?"
  "pending-cart-pod|cluster state: scheduling|every node is cordoned, so the cart service's new pod stays Pending and the frontend's cart calls fail|Service Availability Disruption. What is the root cause?"
)

usage() {
  cat <<'USAGE'
Usage: scripts/demo.sh [INCIDENT] [QUESTION]

Answers QUESTION (or the incident's own question) over a bundled incident with the
agent pipeline and a local 135M-parameter model (downloaded and started on first use).
USAGE
  echo
  echo "Incidents (examples/NAME, with its recorded cluster state in examples/cluster-states/NAME.json):"
  for row in "${INCIDENTS[@]}"; do
    IFS='|' read -r name kind what question <<<"$row"
    printf '  %-20s %s\n  %-20s   %s\n  %-20s   default question: "%s"\n' "$name" "$kind" "" "$what" "" "$question"
  done
  echo
  echo "The first one is the default: scripts/demo.sh is scripts/demo.sh cart-redis-incident."
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac

INCIDENT="cart-redis-incident"
QUESTION=""
for row in "${INCIDENTS[@]}"; do
  IFS='|' read -r name _ _ question <<<"$row"
  if [ "${1:-}" = "$name" ]; then
    INCIDENT="$name"
    shift
    break
  fi
done
for row in "${INCIDENTS[@]}"; do
  IFS='|' read -r name _ _ question <<<"$row"
  if [ "$name" = "$INCIDENT" ]; then
    QUESTION="${1:-$question}"
  fi
done

PORT="${LOGLENS_DEMO_MODEL_PORT:-8080}"
scripts/llama-server.sh start "$PORT"
cargo build --quiet --bin loglens
exec target/debug/loglens ask "$QUESTION" \
  --logs "examples/$INCIDENT" \
  --events "examples/cluster-states/$INCIDENT.json" \
  --model-url "http://127.0.0.1:$PORT" \
  --model SmolLM2-135M-Instruct
