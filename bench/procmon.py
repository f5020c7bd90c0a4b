#!/usr/bin/env python3
"""Run a command while sampling the server processes and the kernel's connection tables.

    procmon.py --root PID [--root PID ...] --out cell.json [--interval 0.25] -- cmd args...

`--root` is a server's top process; its whole process tree is measured (workers, supervisor),
re-listed at every sample so workers that start or die are seen. Writes one JSON document:
RSS (before, peak, after; per process and summed), CPU seconds (user+system) spent by the tree
during the command, the command's own exit code and wall time, and the peaks of what can stop
a big cell: conntrack entries (vs nf_conntrack_max), open fds per process (vs its RLIMIT_NOFILE),
TCP sockets in use / TIME_WAIT (/proc/net/sockstat), MemAvailable. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def stat_fields(pid: int) -> list[str] | None:
    s = read(f"/proc/{pid}/stat")
    if s is None:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    return s[s.rindex(")") + 2 :].split()


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        f = stat_fields(int(d))
        if f is None:
            continue
        kids.setdefault(int(f[1]), []).append(int(d))
    return kids


def tree(roots: list[int]) -> list[int]:
    kids = children_map()
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if p in out or not os.path.exists(f"/proc/{p}"):
            continue
        out.append(p)
        todo.extend(kids.get(p, []))
    return sorted(out)


def proc_sample(pid: int) -> dict | None:
    f = stat_fields(pid)
    statm = read(f"/proc/{pid}/statm")
    if f is None or statm is None:
        return None
    return {
        "rss": int(statm.split()[1]) * PAGE,
        # utime + stime (fields 14, 15 of stat; 12, 13 after the comm split)
        "cpu": (int(f[11]) + int(f[12])) / CLK,
    }


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def nofile_limit(pid: int) -> int | None:
    for line in (read(f"/proc/{pid}/limits") or "").splitlines():
        if line.startswith("Max open files"):
            v = line.split()[3]
            return int(v) if v.isdigit() else None
    return None


def cmdline(pid: int) -> str:
    return (read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()[:200]


def int_file(path: str) -> int | None:
    s = read(path)
    try:
        return int(s.split()[0]) if s else None
    except ValueError:
        return None


def sockstat() -> dict:
    out = {}
    for line in (read("/proc/net/sockstat") or "").splitlines():
        if line.startswith("TCP:"):
            parts = line.split()[1:]
            out = {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}
    return out


def mem_available() -> int | None:
    for line in (read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def snapshot(roots: list[int], fds: bool) -> dict:
    procs = {}
    for p in tree(roots):
        s = proc_sample(p)
        if s is None:
            continue
        if fds:
            s["fds"] = fd_count(p)
        procs[p] = s
    return {
        "t": time.time(),
        "procs": procs,
        "rss_total": sum(s["rss"] for s in procs.values()),
        "cpu_total": sum(s["cpu"] for s in procs.values()),
        "conntrack": int_file("/proc/sys/net/netfilter/nf_conntrack_count"),
        "tcp": sockstat(),
        "mem_available": mem_available(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=int, action="append", default=[], help="server root pid")
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--fd-interval", type=float, default=2.0)
    ap.add_argument("--label", default="")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")

    before = snapshot(a.root, fds=True)
    cpu_seen: dict[int, float] = {p: s["cpu"] for p, s in before["procs"].items()}
    cpu_first: dict[int, float] = dict(cpu_seen)
    peak_rss_total, peak_at = before["rss_total"], 0.0
    peak_rss_by_pid: dict[int, int] = {p: s["rss"] for p, s in before["procs"].items()}
    peak_fds_by_pid: dict[int, int] = {p: s.get("fds") or 0 for p, s in before["procs"].items()}
    fds_total_before = sum(s.get("fds") or 0 for s in before["procs"].values())
    peak_fds_total = fds_total_before
    peak_conntrack = before["conntrack"] or 0
    peak_tcp_inuse = before["tcp"].get("inuse", 0)
    peak_tcp_tw = before["tcp"].get("tw", 0)
    min_mem = before["mem_available"] or 0
    series = []

    t0 = time.time()
    child = subprocess.Popen(cmd)
    last_fd = 0.0
    while True:
        rc = child.poll()
        now = time.time()
        want_fds = now - last_fd >= a.fd_interval
        s = snapshot(a.root, fds=want_fds)
        if want_fds:
            last_fd = now
            peak_fds_total = max(peak_fds_total, sum(ps.get("fds") or 0 for ps in s["procs"].values()))
        for p, ps in s["procs"].items():
            cpu_first.setdefault(p, 0.0)  # a process born during the command started at 0
            cpu_seen[p] = ps["cpu"]
            peak_rss_by_pid[p] = max(peak_rss_by_pid.get(p, 0), ps["rss"])
            if ps.get("fds") is not None:
                peak_fds_by_pid[p] = max(peak_fds_by_pid.get(p, 0), ps["fds"])
        if s["rss_total"] > peak_rss_total:
            peak_rss_total, peak_at = s["rss_total"], now - t0
        peak_conntrack = max(peak_conntrack, s["conntrack"] or 0)
        peak_tcp_inuse = max(peak_tcp_inuse, s["tcp"].get("inuse", 0))
        peak_tcp_tw = max(peak_tcp_tw, s["tcp"].get("tw", 0))
        if s["mem_available"]:
            min_mem = min(min_mem, s["mem_available"]) if min_mem else s["mem_available"]
        series.append(
            [round(now - t0, 3), s["rss_total"], round(s["cpu_total"], 3), s["conntrack"], s["tcp"].get("inuse")]
        )
        if rc is not None:
            break
        time.sleep(a.interval)
    wall = time.time() - t0
    after = snapshot(a.root, fds=True)
    for p, ps in after["procs"].items():
        cpu_seen[p] = ps["cpu"]

    doc = {
        "label": a.label,
        "command": cmd,
        "exit_code": rc,
        "wall_seconds": wall,
        "roots": a.root,
        "processes": {
            str(p): {
                "cmdline": cmdline(p),
                "rss_before": before["procs"].get(p, {}).get("rss"),
                "rss_peak": peak_rss_by_pid.get(p),
                "rss_after": after["procs"].get(p, {}).get("rss"),
                "cpu_seconds": round(cpu_seen.get(p, 0.0) - cpu_first.get(p, 0.0), 3),
                "fds_before": before["procs"].get(p, {}).get("fds"),
                "fds_peak": peak_fds_by_pid.get(p),
                "nofile_limit": nofile_limit(p),
            }
            for p in sorted(set(before["procs"]) | set(after["procs"]) | set(peak_rss_by_pid))
        },
        "rss_total_before": before["rss_total"],
        "rss_total_peak": peak_rss_total,
        "rss_total_peak_at_seconds": round(peak_at, 3),
        "rss_total_after": after["rss_total"],
        "server_cpu_seconds": round(sum(cpu_seen[p] - cpu_first.get(p, 0.0) for p in cpu_seen), 3),
        # open fds of the whole server (sampled every --fd-interval): minus the idle count, the
        # sessions it held at once
        "fds_total_before": fds_total_before,
        "fds_total_peak": peak_fds_total,
        "conntrack_before": before["conntrack"],
        "conntrack_peak": peak_conntrack,
        "conntrack_max": int_file("/proc/sys/net/netfilter/nf_conntrack_max"),
        "tcp_inuse_peak": peak_tcp_inuse,
        "tcp_tw_peak": peak_tcp_tw,
        "mem_available_before": before["mem_available"],
        "mem_available_min": min_mem,
        "series_columns": ["t", "rss_total", "cpu_total", "conntrack", "tcp_inuse"],
        "series": series,
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, a.out)
    return rc if rc is not None else 1


if __name__ == "__main__":
    sys.exit(main())
