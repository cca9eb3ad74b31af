#!/usr/bin/env python3
"""Builds a bundled demo incident (examples/NAME/) from a real Cloud-OpsBench case.

Source: LLM4Ops/Cloud-OpsBench @ e1af4e9 (MIT per its dataset card), as copied into
../shared/data/cloudopsbench/CASE (or into tests/fixtures/cloudopsbench/CASE).
The bundled ones:
  cart-redis-incident  boutique_service_1     (the cart service's Redis address names no host)
  pending-cart-pod     boutique_scheduling_1  (the cart service's new pod fits no node)

Each container's recorded `kubectl logs` output becomes JSON lines in loglens's envelope
format: {"timestamp", "labels": {namespace, pod, container, node}, "line"}. A line's
timestamp is taken only from the line itself (the JSON `timestamp` field of the Go
services, the time in Redis's own log prefix); lines that carry none (the .NET
cartservice) get none. Nothing is invented. Pod and node names come from the case's
recorded `kubectl get pods -o wide`.

The case's recorded `kubectl` outputs (`k8s_states.json`) are copied to
examples/cluster-states/NAME.json, for `loglens ask --events`.

Usage: python3 scripts/make-demo-incident.py [CASE NAME [DATA_DIR]]
  e.g. python3 scripts/make-demo-incident.py boutique_scheduling_1 pending-cart-pod tests/fixtures
"""
import json
import os
import re
import sys
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASE_NAME = sys.argv[1] if len(sys.argv) > 1 else "boutique_service_1"
NAME = sys.argv[2] if len(sys.argv) > 2 else "cart-redis-incident"
DATA = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "..", "shared", "data")
CASE = os.path.join(DATA, "cloudopsbench", CASE_NAME)
OUT = os.path.join(ROOT, "examples", NAME)
MAX_LINES_PER_CONTAINER = 400  # the case's frontend log alone is ~850 lines of 2 KB

REDIS_TIME = re.compile(r"^\d+:[A-Z] (\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}) ")


def line_time(line):
    if line.startswith("{"):
        try:
            obj = json.loads(line)
            ts = obj.get("timestamp")
            if isinstance(ts, str):
                return ts
            instant = obj.get("instant")  # log4j JSON layout (the Java adservice)
            if isinstance(instant, dict) and "epochSecond" in instant:
                t = datetime.fromtimestamp(instant["epochSecond"] + instant.get("nanoOfSecond", 0) / 1e9, tz=timezone.utc)
                return t.isoformat(timespec="microseconds").replace("+00:00", "Z")
        except json.JSONDecodeError:
            pass
    m = REDIS_TIME.match(line)
    if m:
        t = datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S.%f").replace(tzinfo=timezone.utc)
        return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return None


def pods(states):
    """container name -> (pod, node) from `kubectl get pods -o wide`."""
    table = states.get("kubectl get pods -n boutique -o wide", "")
    out = {}
    for row in table.splitlines()[1:]:
        cols = row.split()
        if len(cols) >= 7:
            pod, node = cols[0], cols[6]
            workload = re.sub(r"-[a-z0-9]+-[a-z0-9]+$", "", pod)
            out[workload] = (pod, node)
    return out


def main():
    with open(os.path.join(CASE, "raw_data", "logs.json")) as f:
        logs = json.load(f)
    with open(os.path.join(CASE, "raw_data", "k8s_states.json")) as f:
        states = json.load(f)
    where = pods(states)
    state_file = os.path.join(ROOT, "examples", "cluster-states", NAME + ".json")
    with open(state_file, "w") as f:
        json.dump(states, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.makedirs(OUT, exist_ok=True)
    n = 0
    with open(os.path.join(OUT, "logs.jsonl"), "w") as out:
        for container in sorted(logs):
            lines = logs[container][-MAX_LINES_PER_CONTAINER:]
            pod, node = where.get(container, (container, "unknown"))
            for line in lines:
                rec = {}
                ts = line_time(line)
                if ts:
                    rec["timestamp"] = ts
                rec["labels"] = {"namespace": "boutique", "pod": pod, "container": container, "node": node}
                rec["line"] = line
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {n} lines to {os.path.relpath(OUT, ROOT)}/logs.jsonl", file=sys.stderr)


if __name__ == "__main__":
    main()
