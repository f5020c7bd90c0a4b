"""Loads `openenv-bench scale` output the way the Python tools read theirs, and checks it.

    check_results.py DIR [--records N] [--rows N]

- summary.csv via pandas: the reference columns first, in the reference order (extras only
  after), numeric columns numeric; every row's latency percentiles recomputed with numpy
  (linear interpolation, the analyzer's method) from the successful raw records of that cell.
- raw.jsonl via pandas (lines=True) and json: the reference keys first, in order, on every line.
- run.json: the facts of the run.
Exits non-zero with a message on the first mismatch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = (
    "mode,url,num_requests,batch_size,wait_seconds,repetition,timestamp,hardware,successful,failed,"
    "error_rate,total_wall_time,connect_p50,connect_p95,connect_p99,reset_p50,reset_p95,reset_p99,"
    "step_p50,step_p95,step_p99,total_min,total_max,total_avg,total_p50,total_p90,total_p95,total_p99,"
    "requests_per_second,effective_concurrency,unique_pids,unique_sessions,unique_hosts"
).split(",")
RAW_KEYS = (
    "request_id,mode,timestamp,wait_requested,batch_size,hardware,connect_latency,reset_latency,"
    "step_latency,total_latency,waited_seconds,pid,session_hash,host_url,success,error_type,error_message"
).split(",")


def fail(msg: str) -> None:
    print(f"check_results: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def identity_matches(count, values: pd.Series) -> bool:
    """A unique_* count against the raw values: empty strings are "not reported", and a count
    nobody reported is written empty (NaN here), meaning unknown."""
    reported = values[values.astype(str) != ""]
    if pd.isna(count):
        return len(reported) == 0
    return count == reported.nunique()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--records", type=int, help="expected raw.jsonl lines")
    ap.add_argument("--rows", type=int, help="expected summary.csv rows")
    args = ap.parse_args()

    summary = pd.read_csv(args.dir / "summary.csv")
    cols = list(summary.columns)
    if cols[: len(SUMMARY_COLUMNS)] != SUMMARY_COLUMNS:
        fail(f"summary.csv columns {cols[:len(SUMMARY_COLUMNS)]} != reference {SUMMARY_COLUMNS}")
    for c in SUMMARY_COLUMNS:
        if c in ("mode", "url", "timestamp", "hardware"):
            continue
        if not pd.api.types.is_numeric_dtype(summary[c]):
            fail(f"summary.csv column {c} is not numeric: {summary[c].dtype}")
    if args.rows is not None and len(summary) != args.rows:
        fail(f"summary.csv has {len(summary)} rows, expected {args.rows}")

    lines = (args.dir / "raw.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):
        keys = list(json.loads(line).keys())
        if keys[: len(RAW_KEYS)] != RAW_KEYS:
            fail(f"raw.jsonl line {i + 1} keys {keys[:len(RAW_KEYS)]} != reference {RAW_KEYS}")
    raw = pd.read_json(args.dir / "raw.jsonl", lines=True, precise_float=True)
    if args.records is not None and len(raw) != args.records:
        fail(f"raw.jsonl has {len(raw)} lines, expected {args.records}")
    if raw["success"].dtype != bool:
        fail(f"raw.jsonl success is not boolean: {raw['success'].dtype}")

    # Recompute each cell's percentiles as the analyzer does; our raw lines carry `repetition`
    # (an extra key) so cells can be told apart.
    checked = 0
    for _, row in summary.iterrows():
        cell = raw[
            (raw["mode"] == row["mode"])
            & (raw["batch_size"] == row["batch_size"])
            & np.isclose(raw["wait_requested"], row["wait_seconds"])
            & (raw["repetition"] == row["repetition"])
        ]
        if len(cell) != row["num_requests"]:
            fail(f"cell {row[['mode','batch_size','wait_seconds','repetition']].tolist()}: "
                 f"{len(cell)} raw lines, summary says {row['num_requests']}")
        ok = cell[cell["success"]]
        if len(ok) != row["successful"]:
            fail(f"cell {row['mode']} N={row['batch_size']}: {len(ok)} successes in raw, {row['successful']} in summary")
        if len(ok) == 0:
            continue
        for name, col in (("connect", "connect_latency"), ("reset", "reset_latency"),
                          ("step", "step_latency"), ("total", "total_latency")):
            for p in ((50, 95, 99) if name != "total" else (50, 90, 95, 99)):
                ours = row[f"{name}_p{p}"]
                theirs = float(np.percentile(ok[col].to_numpy(), p))
                if not close(ours, theirs):
                    fail(f"{row['mode']} N={row['batch_size']} {name}_p{p}: summary {ours} numpy {theirs}")
        if not close(row["total_avg"], float(ok["total_latency"].mean())):
            fail(f"total_avg mismatch in {row['mode']} N={row['batch_size']}")
        for col, key in (("unique_sessions", "session_hash"), ("unique_hosts", "host_url")):
            if not identity_matches(row[col], ok[key]):
                fail(f"{col} mismatch in {row['mode']} N={row['batch_size']}: {row[col]}")
        checked += 1

    run = json.loads((args.dir / "run.json").read_text())
    for k in ("tool", "version", "command_line", "hostname", "cores", "open_files_soft", "start_time"):
        if k not in run:
            fail(f"run.json lacks {k}")
    print(f"check_results: OK: {len(summary)} summary rows ({checked} recomputed), {len(raw)} raw records")


if __name__ == "__main__":
    main()
