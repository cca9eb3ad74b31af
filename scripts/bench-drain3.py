#!/usr/bin/env python3
"""The drain3 side of the pattern-mining benchmark (agents/benches/patterns.rs).

Runs the drain3 Python package on Loghub-2.0's 2k sets with the same settings as the
loglens miner (depth 4, similarity 0.4, 100 children, the same masks) and prints grouping
accuracy (GA), parsing accuracy (PA) and lines/s in the same table format.
Usage: bench-drain3.py LOGHUB_DIR [REPS]
"""
import csv
import sys
import time
from collections import defaultdict

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# The loglens masks (agents/src/evidence/patterns.rs), in the same order.
MASKS = [
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b",
    r"\b(?:[0-9a-fA-F]{2,}:){3,}[0-9a-fA-F]{2,}\b",
    r"\b0[xX][0-9a-fA-F]+\b",
    r"\b(?=[0-9a-f]{8,}\b)[0-9a-f]*(?:[0-9][a-f]|[a-f][0-9])[0-9a-f]*\b",
    r"[-+]?\b\d+(?:\.\d+)?",
]


def miner():
    cfg = TemplateMinerConfig()
    cfg.drain_depth = 4
    cfg.drain_sim_th = 0.4
    cfg.drain_max_children = 100
    cfg.mask_prefix = "<"
    cfg.mask_suffix = ">"
    cfg.masking_instructions = [MaskingInstruction(p, "*") for p in MASKS]
    cfg.profiling_enabled = False
    return TemplateMiner(config=cfg)


def normalize(t):
    return " ".join(t.split())


def main():
    root = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"system      lines   GA     PA     lines/s   (drain3, depth 4, similarity 0.4, {reps} repetitions for speed)")
    ga_sum = pa_sum = n_sys = 0
    for system in ["HDFS", "OpenStack", "Spark", "Zookeeper"]:
        path = f"{root}/{system}/{system}_2k.log_structured_corrected.csv"
        with open(path, newline="") as f:
            rows = [(r["Content"], r["EventTemplate"]) for r in csv.DictReader(f)]
        m = miner()
        ids = [m.add_log_message(c)["cluster_id"] for c, _ in rows]
        templates = {c.cluster_id: c.get_template() for c in m.drain.clusters}
        true_groups, pred_groups = defaultdict(list), defaultdict(list)
        for i, ((_, t), p) in enumerate(zip(rows, ids)):
            true_groups[t].append(i)
            pred_groups[p].append(i)
        grouped = sum(1 for (_, t), p in zip(rows, ids) if pred_groups[p] == true_groups[t])
        parsed = sum(1 for (_, t), p in zip(rows, ids) if normalize(templates[p]) == normalize(t))
        ga, pa = grouped / len(rows), parsed / len(rows)
        started = time.perf_counter()
        for _ in range(reps):
            m = miner()
            for c, _ in rows:
                m.add_log_message(c)
        rate = len(rows) * reps / (time.perf_counter() - started)
        print(f"{system:<11} {len(rows):>5}   {ga:.3f}  {pa:.3f}  {rate:>9.0f}")
        ga_sum, pa_sum, n_sys = ga_sum + ga, pa_sum + pa, n_sys + 1
    print(f"mean                {ga_sum / n_sys:.3f}  {pa_sum / n_sys:.3f}")


if __name__ == "__main__":
    main()
