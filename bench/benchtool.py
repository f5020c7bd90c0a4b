#!/usr/bin/env python3
"""Helpers of bench/run.sh (standard library only).

    benchtool.py warmup URL WORKERS [SECONDS]   POST /reset on fresh connections until every worker answered
    benchtool.py cell-ok DIR MODE N WAIT        mean success rate of that cell in DIR (0 if absent)

Success rates, max batch sizes and per-cell means come from `openenv-bench analyze --json` (the
binary in $OPENENV_BENCH, else OUT/bin/openenv-bench, else target/release/openenv-bench, else PATH):
this script formats, it does not re-analyze summary.csv.
    benchtool.py machine                        markdown facts about this machine
    benchtool.py compare OUT                    OUT/comparison.md: Python vs openenv-bench, ratios, targets
    benchtool.py limit OUT                      OUT/limit.md: the limit run, and what stopped it
    benchtool.py results CMP_OUT LIMIT_OUT MICRO.txt   bench/RESULTS.md on stdout
    benchtool.py findmax OUT                    the capacity searches of both servers (capacity.json), markdown on stdout
    benchtool.py splice FILE NAME SECTION.md    put SECTION.md into FILE between <!-- NAME --> markers (appended the first time)
"""

from __future__ import annotations

import functools
import glob
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request

PY = "python-openenv"
PY010 = "python-openenv010"  # the same environment on openenv 0.10.0's create_app
OURS = "openenv-bench"
MIB = 1024 * 1024


# ---------------------------------------------------------------- small helpers


def warmup(url: str, workers: int, seconds: float = 60.0) -> int:
    """Until `workers` distinct pids answered /reset (each request a new connection)."""
    pids: set[int] = set()
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            req = urllib.request.Request(
                url.rstrip("/") + "/reset", data=b"{}", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=5) as r:
                pids.add(json.load(r)["observation"]["pid"])
        except Exception:
            time.sleep(0.2)
        if len(pids) >= workers:
            print(f"warm: {len(pids)} worker pid(s) answered: {sorted(pids)}")
            return 0
    print(f"warmup: only {len(pids)} of {workers} workers answered within {seconds:.0f} s", file=sys.stderr)
    return 1


def bench_bin(d: str | None = None) -> str:
    """The openenv-bench binary: $OPENENV_BENCH, the run's own copy (OUT/bin), the checkout's build, PATH."""
    env = os.environ.get("OPENENV_BENCH")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [os.path.join(here, "..", "target", "release", "openenv-bench")]
    if d:  # DIR is OUT/results/<infra>/<date> or OUT/burst/<infra>/<date>
        cands.insert(0, os.path.join(d, "..", "..", "..", "bin", "openenv-bench"))
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return "openenv-bench"


@functools.lru_cache(maxsize=None)
def analysis(d: str) -> dict | None:
    """`openenv-bench analyze --json` of one results directory; None without results."""
    if not d or not os.path.exists(os.path.join(d, "summary.csv")):
        return None
    p = subprocess.run([bench_bin(d), "analyze", "-i", d, "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"benchtool: analyze -i {d} failed: {p.stderr.strip()}", file=sys.stderr)
        return None
    return json.loads(p.stdout)["infras"][0]


def rows(d: str) -> list[dict]:
    """Every cell of DIR in file order: its summary.csv columns (typed) plus analyze's `success_rate`."""
    a = analysis(d)
    if not a:
        return []
    out = [dict(r["columns"], success_rate=r["success_rate"], line=r["line"])
           for c in a["curves"] for p in c["points"] for r in p["reps"]]
    return sorted(out, key=lambda r: r["line"])


def fnum(x, default=None):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def curve(d: str, mode: str, wait: float) -> dict | None:
    a = analysis(d)
    for c in (a["curves"] if a else []):
        if c["mode"] == mode and abs(c["wait"] - wait) < 1e-9:
            return c
    return None


def point(d: str, mode: str, n: int, wait: float) -> dict | None:
    c = curve(d, mode, wait)
    for p in (c["points"] if c else []):
        if p["batch_size"] == n:
            return p
    return None


def success(r: dict) -> float:
    """analyze's success rate of one cell (1 - error_rate)."""
    return r["success_rate"]


def cell_ok(d: str, mode: str, n: int, wait: float) -> float:
    p = point(d, mode, n, wait)
    return p["mean_success"] if p else 0.0


def machine() -> str:
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""

    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    lines = [
        f"- host: `{platform.node()}`, {platform.system()} {platform.release()}",
        f"- CPU: {os.cpu_count()} logical cores ({model}); memory {mem}",
        f"- open files (this shell): soft {sh('ulimit -Sn')}, hard {sh('ulimit -Hn')}",
        f"- net.core.somaxconn {sh('cat /proc/sys/net/core/somaxconn')}; "
        f"ip_local_port_range {sh('cat /proc/sys/net/ipv4/ip_local_port_range').split()}; "
        f"nf_conntrack_max {sh('cat /proc/sys/net/netfilter/nf_conntrack_max') or 'n/a'}; "
        f"nf_conntrack_tcp_timeout_time_wait {sh('cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait') or 'n/a'} s",
        f"- rustc: {sh('rustc --version') or 'n/a'}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- result loading


def result_dir(out: str, infra: str) -> str | None:
    ds = sorted(glob.glob(os.path.join(out, "results", infra, "*")))
    return ds[-1] if ds else None


def procmon(out: str, name: str) -> dict | None:
    p = os.path.join(out, "procmon", name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def worker_pids(d: str) -> set[int]:
    """pids that answered sessions (the server's workers, not a supervisor)."""
    pids: set[int] = set()
    pat = re.compile(r'"pid":\s*(\d+)')
    p = os.path.join(d, "raw.jsonl")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                m = pat.search(line)
                if m and m.group(1) != "0":
                    pids.add(int(m.group(1)))
    return pids


PHASES = ["start_delay", "tcp_connect_latency", "upgrade_latency", "reset_latency", "step_latency", "close_latency", "total_latency"]


def phases(d: str, mode: str, n: int, wait: float):
    """(p50, p99) of each phase over the successful sessions of that cell (all repetitions)."""
    vals: dict[str, list[float]] = {k: [] for k in PHASES}
    p = os.path.join(d, "raw.jsonl")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        for line in f:
            if f'"batch_size":{n},' not in line.replace(" ", ""):
                continue
            r = json.loads(line)
            if r.get("mode") != mode or abs(float(r.get("wait_requested", -1)) - wait) > 1e-9 or not r.get("success"):
                continue
            for k in PHASES:
                vals[k].append(float(r.get(k) or 0.0))
    if not vals["total_latency"]:
        return None

    def pct(xs, q):
        xs = sorted(xs)
        rank = q / 100 * (len(xs) - 1)
        lo = int(rank)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)

    return [(pct(vals[k], 50), pct(vals[k], 99)) for k in PHASES]


def cfg(out: str) -> dict:
    p = os.path.join(out, "config.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {}


def max_batch(d: str | None, mode: str, wait: float):
    """(analyze's max batch, (first N under the threshold, its mean success), largest N tried)."""
    c = curve(d, mode, wait) if d else None
    if not c or not c["points"]:
        return None, None, None
    first_fail = None
    if c["first_failing"] is not None:
        first_fail = (c["first_failing"], point(d, mode, c["first_failing"], wait)["mean_success"])
    return c["max_batch"], first_fail, c["points"][-1]["batch_size"]


class Server:
    """Everything measured for one server."""

    def __init__(self, out: str, infra: str, c: dict):
        self.infra = infra
        self.dir = result_dir(out, infra)
        self.rs = rows(self.dir) if self.dir else []
        self.pids = worker_pids(self.dir) if self.dir else set()
        self.idle = procmon(out, f"{infra}-idle")
        self.mem = procmon(out, f"{infra}-memory")
        self.wait0 = procmon(out, f"{infra}-wait0")
        self.c = c
        self.out = out

    def mb(self, wait):
        return max_batch(self.dir, "ws", wait)

    def mb_latency(self, wait):
        """Largest N at >=95% whose total p99 stays within wait + 1 s (a latency-bounded max batch)."""
        best = None
        if not [r for r in self.rs if r.get("mode") == "ws" and abs(fnum(r["wait_seconds"], -1) - wait) < 1e-9]:
            return "not measured"
        for n in sorted({int(float(r["batch_size"])) for r in self.rs if r.get("mode") == "ws"}):
            s, p = self.cell_success("ws", n, wait), self.cell("ws", n, wait, "total_p99")
            if s is not None and p is not None and s >= 0.95 and p <= wait + 1.0:
                best = n
        return best

    def peak_open(self, wait):
        """Largest peak_open_sessions of a WS cell at this wait with >=95% success (None if absent)."""
        vals = [fnum(r.get("peak_open_sessions")) for r in self.rs
                if r.get("mode") == "ws" and abs(fnum(r["wait_seconds"], -1) - wait) < 1e-9 and success(r) >= 0.95]
        vals = [v for v in vals if v is not None]
        return max(vals) if vals else None

    def cell(self, mode, n, wait, col):
        p = point(self.dir, mode, n, wait) if self.dir else None
        return p["means"].get(col) if p else None

    def cell_success(self, mode, n, wait):
        p = point(self.dir, mode, n, wait) if self.dir else None
        return p["mean_success"] if p else None

    def idle_worker_rss(self):
        if not self.idle:
            return None, None
        procs = self.idle["processes"]
        ws = [v["rss_before"] for p, v in procs.items() if int(p) in self.pids and v["rss_before"]]
        if not ws:  # no session answered: every process counts
            ws = [v["rss_before"] for v in procs.values() if v["rss_before"]]
        return (max(ws) if ws else None), self.idle["rss_total_before"]

    def per_session_rss(self, n):
        if not self.mem:
            return None, None
        d = self.mem["rss_total_peak"] - self.mem["rss_total_before"]
        return d / n, self.mem["rss_total_peak"]

    def server_cpu_per_session(self, n):
        if not self.wait0:
            return None
        ok = self.cell("ws", n, 0.0, "successful") or n
        return self.wait0["server_cpu_seconds"] / ok

    def procmon_for(self, mode, n, wait):
        return procmon(self.out, f"{self.infra}-{mode}-w{fmt_wait(wait)}-n{n}")


class Burst(Server):
    """The burst cell's separate result directory (OUT/burst/<infra>/<date>)."""

    def __init__(self, out: str, infra: str):
        ds = sorted(glob.glob(os.path.join(out, "burst", infra, "*")))
        self.infra, self.dir, self.out, self.c = infra, (ds[-1] if ds else None), out, {}
        self.rs = rows(self.dir) if self.dir else []
        self.pids, self.idle, self.mem, self.wait0 = set(), None, None, None


def fmt_wait(w: float) -> str:
    return ("%g" % w).replace(".", "p")


# ---------------------------------------------------------------- formatting


def f_int(x):
    return "–" if x is None else f"{int(round(x)):,}"


def f_s(x, nd=3):
    return "–" if x is None else f"{x:.{nd}f} s"


def f_pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def f_mib(x):
    return "–" if x is None else f"{x / MIB:.1f} MiB"


def f_kib(x):
    return "–" if x is None else f"{x / 1024:.1f} KiB"


def f_us(x):
    return "–" if x is None else f"{x:.0f} µs"


def ratio(ours, py, bigger_better):
    if ours is None or py is None or ours == 0 or py == 0:
        return "–", "–"
    r = ours / py
    factor = r if bigger_better else 1 / r
    return f"{r:.3g}", f"{factor:.3g}×"


def mb_text(mb):
    best, first_fail, tried = mb
    if tried is None:
        return "not measured"
    if best is None:
        return "none ≥95%"
    if first_fail is None:
        return f"≥ {best:,} (grid top, all ≥95%)"
    n, s = first_fail
    return f"{best:,} ({n:,}: {f_pct(s)})"


def compare(out: str) -> int:
    c = cfg(out)
    py, ours = Server(out, PY, c), Server(out, OURS, c)
    n_p99 = int(c.get("p99_n", 2048))
    n_http = int(c.get("http_n", 1024))
    n0 = int(c.get("wait0_n", 10000))
    n_mem = int(c.get("mem_n", 2048))
    w_mem = float(c.get("mem_wait", 10))

    lines = []
    add = lines.append
    add(f"# openenv-bench vs the Python reference: {c.get('date', '')}\n")
    add(f"Machine:\n\n{c.get('machine', machine())}\n")
    add(
        f"Both servers: {c.get('workers')} worker process(es), pinned with `taskset -c {c.get('cpus')}`, "
        f"driven one after the other by the same load generator (`openenv-bench scale`, pinned to the "
        f"same cores). Python: openenv-core {c.get('openenv_core', '?')} `create_app` + uvicorn "
        f"{c.get('uvicorn', '?')} (`tests/python/reference_server.py`, MAX_CONCURRENT_ENVS="
        f"{c.get('py_max_envs')}); ours: `openenv-bench serve` (MAX_CONCURRENT_ENVS=0, unlimited). "
        f"Repetitions per cell: {c.get('reps', 1)}. Grids stop at a server's first cell under 95%.\n"
    )
    add("| measure | Python | openenv-bench | ours / Python | better by | target (ours) | met |")
    add("|---|---|---|---|---|---|---|")

    def row(name, pv, ov, fmt, bigger_better, target=None, ok=None):
        r, fac = ratio(ov, pv, bigger_better)
        met = "–" if ok is None else ("yes" if ok else "**no**")
        add(f"| {name} | {fmt(pv)} | {fmt(ov)} | {r} | {fac} | {target or '–'} | {met} |")

    for w in (1.0, 0.1):
        pm, om = py.mb(w), ours.mb(w)
        r, fac = ratio(om[0], pm[0], True)
        add(f"| WS max batch ≥95%, wait {w:g} s | {mb_text(pm)} | {mb_text(om)} | {r} | {fac} | – | – |")

    for w in (1.0, 0.1):
        pk, ok_ = py.peak_open(w), ours.peak_open(w)
        add(f"| WS most sessions open at once in a ≥95% cell, wait {w:g} s (`peak_open_sessions`; "
            f"a slow server keeps sessions open longer, so not a figure of merit) | {f_int(pk)} | {f_int(ok_)} | – | – | – | – |")
    for w in (1.0, 0.1):
        pl, ol = py.mb_latency(w), ours.mb_latency(w)
        txt = lambda v: v if isinstance(v, str) else (f_int(v) if v else "none")  # noqa: E731
        num = lambda v: v if isinstance(v, int) else None  # noqa: E731
        r, fac = ratio(num(ol), num(pl), True)
        add(f"| WS largest N with ≥95% and total p99 ≤ wait + 1 s, wait {w:g} s | {txt(pl)} | {txt(ol)} | {r} | {fac} | – | – |")

    ps, os_ = py.cell_success("ws", n_p99, 1.0), ours.cell_success("ws", n_p99, 1.0)
    row(f"WS N={n_p99:,} wait 1 s: success", ps, os_, f_pct, True, "100%", None if os_ is None else os_ >= 1.0)
    pp, op = py.cell("ws", n_p99, 1.0, "total_p99"), ours.cell("ws", n_p99, 1.0, "total_p99")
    row(f"WS N={n_p99:,} wait 1 s: total p99", pp, op, f_s, False, "≤ 1.25 s", None if op is None else op <= 1.25)
    bp, bo = Burst(out, PY), Burst(out, OURS)
    row(f"WS N={n_p99:,} wait 1 s, all launched at once (`--launch-batch 0`): total p99",
        bp.cell("ws", n_p99, 1.0, "total_p99"), bo.cell("ws", n_p99, 1.0, "total_p99"), f_s, False, "≤ 1.25 s",
        None if bo.cell("ws", n_p99, 1.0, "total_p99") is None else bo.cell("ws", n_p99, 1.0, "total_p99") <= 1.25)
    row(f"  (success of that cell)", bp.cell_success("ws", n_p99, 1.0), bo.cell_success("ws", n_p99, 1.0), f_pct, True)
    hp, ho = py.cell("http", n_http, 1.0, "total_wall_time"), ours.cell("http", n_http, 1.0, "total_wall_time")
    hsp, hso = py.cell_success("http", n_http, 1.0), ours.cell_success("http", n_http, 1.0)
    row(f"HTTP N={n_http:,} wait 1 s: wall", hp, ho, f_s, False, "≤ 1.5 s", None if ho is None else (ho <= 1.5 and (hso or 0) >= 1.0))
    row(f"HTTP N={n_http:,} wait 1 s: success", hsp, hso, f_pct, True)
    rp, ro = py.cell("ws", n0, 0.0, "requests_per_second"), ours.cell("ws", n0, 0.0, "requests_per_second")
    row(f"WS wait 0, N={n0:,}: full sessions/s", rp, ro, f_int, True, "≥ 6,000", None if ro is None else ro >= 6000)
    s0p, s0o = py.cell_success("ws", n0, 0.0), ours.cell_success("ws", n0, 0.0)
    row(f"WS wait 0, N={n0:,}: success", s0p, s0o, f_pct, True)
    (iwp, itp), (iwo, ito) = py.idle_worker_rss(), ours.idle_worker_rss()
    row("RSS idle, per worker (largest)", iwp, iwo, f_mib, False, "≤ 10 MiB", None if iwo is None else iwo <= 10 * MIB)
    row("RSS idle, whole server (all processes)", itp, ito, f_mib, False)
    (psp, ptp), (pso, pto) = py.per_session_rss(n_mem), ours.per_session_rss(n_mem)
    row(f"RSS per open WS session (N={n_mem:,}, wait {w_mem:g} s)", psp, pso, f_kib, False, "≤ 12 KiB", None if pso is None else pso <= 12 * 1024)
    row(f"RSS whole server, N={n_mem:,} open", ptp, pto, f_mib, False)
    msp, mso = py.cell_success("ws", n_mem, w_mem), ours.cell_success("ws", n_mem, w_mem)
    row(f"  (success of that cell)", msp, mso, f_pct, True)
    cp, co = py.server_cpu_per_session(n0), ours.server_cpu_per_session(n0)
    row(f"server CPU per WS session (wait 0, N={n0:,})", cp and cp * 1e6, co and co * 1e6, f_us, False)
    lp, lo = py.cell("ws", n_p99, 1.0, "loadgen_cpu_per_session_us"), ours.cell("ws", n_p99, 1.0, "loadgen_cpu_per_session_us")
    row(f"load generator CPU per WS session (N={n_p99:,} wait 1 s)", lp, lo, f_us, False, "≤ 150 µs", None if lo is None else lo <= 150)
    lp0, lo0 = py.cell("ws", n0, 0.0, "loadgen_cpu_per_session_us"), ours.cell("ws", n0, 0.0, "loadgen_cpu_per_session_us")
    row(f"load generator CPU per WS session (wait 0, N={n0:,})", lp0, lo0, f_us, False, "≤ 150 µs", None if lo0 is None else lo0 <= 150)
    add(
        "\nThe load generator is the same program for both servers; its CPU per session differs only "
        "through the server's pace (a slow server means more timer and poll wake-ups per session). "
        "docs/background.md: the Python load generator (`tests/test_scaling.py`) needed ~1.4 ms per session.\n"
    )

    py10 = Server(out, PY010, c)
    if py10.dir:
        add("\n## The current OpenEnv: openenv 0.10.0 beside 0.3.0 and ours\n")
        add(
            f"The same benchmark environment (`tests/python/reference_server.py`) on openenv "
            f"{c.get('openenv010', '?')} `create_app` + uvicorn {c.get('uvicorn010', '?')}, the release "
            f"users install today, measured like the two above.\n"
        )
        add("| measure | Python 0.3.0 | Python 0.10 | openenv-bench | ours / 0.10 | better by |")
        add("|---|---|---|---|---|---|")

        def row3(name, pv, p10, ov, fmt, bigger_better):
            r, fac = ratio(ov, p10, bigger_better)
            add(f"| {name} | {fmt(pv)} | {fmt(p10)} | {fmt(ov)} | {r} | {fac} |")

        for w in (1.0, 0.1):
            pm, p10m, om = py.mb(w), py10.mb(w), ours.mb(w)
            r, fac = ratio(om[0], p10m[0], True)
            add(f"| WS max batch ≥95%, wait {w:g} s | {mb_text(pm)} | {mb_text(p10m)} | {mb_text(om)} | {r} | {fac} |")
        row3(f"WS N={n_p99:,} wait 1 s: success", *(s_.cell_success("ws", n_p99, 1.0) for s_ in (py, py10, ours)), f_pct, True)
        row3(f"WS N={n_p99:,} wait 1 s: total p99", *(s_.cell("ws", n_p99, 1.0, "total_p99") for s_ in (py, py10, ours)), f_s, False)
        row3(f"HTTP N={n_http:,} wait 1 s: success", *(s_.cell_success("http", n_http, 1.0) for s_ in (py, py10, ours)), f_pct, True)
        row3(f"HTTP N={n_http:,} wait 1 s: total p99", *(s_.cell("http", n_http, 1.0, "total_p99") for s_ in (py, py10, ours)), f_s, False)
        row3(f"WS wait 0, N={n0:,}: full sessions/s", *(s_.cell("ws", n0, 0.0, "requests_per_second") for s_ in (py, py10, ours)), f_int, True)
        row3(f"WS wait 0, N={n0:,}: success", *(s_.cell_success("ws", n0, 0.0) for s_ in (py, py10, ours)), f_pct, True)
        row3("RSS idle, whole server (all processes)", *(s_.idle_worker_rss()[1] for s_ in (py, py10, ours)), f_mib, False)
        row3(f"RSS per open WS session (N={n_mem:,}, wait {w_mem:g} s)", *(s_.per_session_rss(n_mem)[0] for s_ in (py, py10, ours)), f_kib, False)
        cpus = [s_.server_cpu_per_session(n0) for s_ in (py, py10, ours)]
        row3(f"server CPU per WS session (wait 0, N={n0:,})", *(x and x * 1e6 for x in cpus), f_us, False)

    add(f"\n## Where the time of WS N={n_p99:,}, wait 1 s goes (seconds, p50 / p99 over sessions)\n")
    add("| server | launch | start delay | TCP connect | upgrade | reset | step | close | total |")
    add("|---|---|---|---|---|---|---|---|---|")
    for s, how in ((py, "batches of 32"), (ours, "batches of 32"), (bp, "all at once"), (bo, "all at once")):
        ph = phases(s.dir, "ws", n_p99, 1.0) if s.dir else None
        if ph:
            add(f"| {s.infra} | {how} | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in ph) + " |")
    add("\n`start delay`: how late the load generator started the session after the cell's start "
        "(its own event loop, busy launching the others); the other phases are measured from there.\n")

    for s in (py, py10, ours):
        if s is py10 and not s.dir:
            continue
        add(f"\n## Every cell: {s.infra}\n")
        add(f"Results: `{os.path.relpath(s.dir, out) if s.dir else 'none'}`; worker pids seen: {len(s.pids)}\n")
        add("| mode | wait s | N | ok % | wall s | connect p50 | total p50 | total p99 | sessions/s | srv CPU s | srv peak RSS | lg CPU µs/sess | lg peak RSS | errors |")
        add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in s.rs:
            mode, n, w = r["mode"], int(float(r["batch_size"])), fnum(r["wait_seconds"])
            pm_ = s.procmon_for(mode, n, w)
            name = {0.0: "wait0"}.get(w) if n == n0 and mode == "ws" else None
            if n == n_mem and w == w_mem and mode == "ws":
                name = "memory"
            if name:
                pm_ = procmon(out, f"{s.infra}-{name}") or pm_
            add(
                f"| {mode} | {w:g} | {n:,} | {100 * success(r):.1f} | {fnum(r['total_wall_time']):.2f} | "
                f"{fnum(r['connect_p50'], 0):.3f} | {fnum(r['total_p50'], 0):.3f} | {fnum(r['total_p99'], 0):.3f} | "
                f"{fnum(r['requests_per_second'], 0):,.0f} | "
                f"{pm_['server_cpu_seconds'] if pm_ else '–'} | {f_mib(pm_['rss_total_peak']) if pm_ else '–'} | "
                f"{fnum(r.get('loadgen_cpu_per_session_us'), 0):.0f} | {fnum(r.get('loadgen_peak_rss_mib'), 0):.0f} MiB | "
                f"{r.get('error_types') or ''} |"
            )
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "comparison.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


def limit(out: str) -> int:
    c = cfg(out)
    d = result_dir(out, c.get("infra", "openenv-bench-limit"))
    rs = rows(d) if d else []
    lines = []
    add = lines.append
    add(f"# openenv-bench alone at this machine's limit: {c.get('date', '')}\n")
    add(f"Machine:\n\n{c.get('machine', machine())}\n")
    add(
        f"Server: `openenv-bench serve`, {c.get('workers')} workers (SO_REUSEPORT), MAX_CONCURRENT_ENVS=0, "
        f"HEADER_TIMEOUT={c.get('header_timeout', 10)} s; "
        f"load generator: `openenv-bench scale` (worker processes of ≤ {c.get('sessions_per_process', 'default')} sessions each, "
        f"{c.get('source_addrs', 'automatic')} loopback source addresses); WS, wait {c.get('wait')} s, timeout {c.get('timeout')} s; "
        f"cores `{c.get('cpus')}` shared by both. Conntrack: {c.get('conntrack_note', '')}\n"
    )
    add("| N | ok % | held at once: server fds / scale's peak open | wall s | connect p50 / p99 | total p99 | srv peak RSS | RSS / session | srv CPU s | lg procs | lg CPU µs/sess | lg peak RSS | conntrack peak / max | fds peak (worst worker) / limit | TCP inuse peak | MemAvailable min | errors |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    best = best_held = base_rss = None
    stopped = None
    for r in rs:
        n = int(float(r["batch_size"]))
        s = success(r)
        pm_ = procmon(out, f"limit-n{n}")
        if pm_:
            held0 = (pm_["fds_total_peak"] - pm_["fds_total_before"]) if "fds_total_peak" in pm_ else 0
            if base_rss is None:
                base_rss = pm_["rss_total_before"]  # the fresh server, before its first cell
            per = (pm_["rss_total_peak"] - base_rss) / (held0 if held0 > 0 else n)
            fds = [(v["fds_peak"] or 0, v["nofile_limit"]) for v in pm_["processes"].values()]
            worst = max(fds) if fds else (None, None)
            ct = f"{pm_['conntrack_peak']:,} / {pm_['conntrack_max']:,}" if pm_.get("conntrack_max") else "n/a"
            held = (pm_["fds_total_peak"] - pm_["fds_total_before"]) if "fds_total_peak" in pm_ else None
            pm_txt = (
                f"{f_mib(pm_['rss_total_peak'])} | {f_kib(per)} | {pm_['server_cpu_seconds']} | "
            )
            tail = f"{ct} | {worst[0]:,} / {worst[1]} | {pm_['tcp_inuse_peak']:,} | {f_mib(pm_['mem_available_min'])}"
        else:
            held, pm_txt, tail = None, "– | – | – | ", "– | – | – | –"
        add(
            f"| {n:,} | {100 * s:.1f} | {f_int(held)} / {f_int(fnum(r.get('peak_open_sessions')))} | {fnum(r['total_wall_time']):.1f} | {fnum(r['connect_p50'], 0):.2f} / {fnum(r['connect_p99'], 0):.2f} | "
            f"{fnum(r['total_p99'], 0):.2f} | {pm_txt}{r.get('loadgen_processes', '')} | {fnum(r.get('loadgen_cpu_per_session_us'), 0):.0f} | "
            f"{fnum(r.get('loadgen_peak_rss_mib'), 0):,.0f} MiB | {tail} | {r.get('error_types') or ''} |"
        )
        if s >= 0.95:
            best = max(best or 0, n)
            h = held if held is not None else fnum(r.get("peak_open_sessions"))
            if h is not None:
                best_held = max(best_held or 0, h)
        elif stopped is None:
            stopped = (n, s, r.get("error_types") or "")
    add("")
    add("RSS / session: the server's peak RSS in the cell minus its RSS before the first cell (fresh, idle), "
        "over the sessions held at once.\n")
    add(f"**Most sessions held at once in a cell with ≥95% success (server's open sockets): {f_int(best_held)}**\n")
    add(f"**Largest N at ≥95% success, wait {c.get('wait')} s: {f_int(best)}**" + (f" (first failing: N={stopped[0]:,} at {100 * stopped[1]:.1f}%: {stopped[2]})" if stopped else " (every cell of the grid passed)"))
    notes = os.path.join(out, "limit-notes.txt")
    if os.path.exists(notes):
        with open(notes) as f:
            add("\n```\n" + f.read().rstrip() + "\n```")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "limit.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


def micro_table(path: str) -> str:
    """criterion's `name  time: [lo est hi]` lines as a table."""
    if not path or not os.path.exists(path):
        return "(not run)\n"
    text = open(path).read()
    out = ["| benchmark | time (estimate) | 95% interval |", "|---|---|---|"]
    for m in re.finditer(r"^(\S+)\s*\n?\s*time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", text, re.M):
        out.append(f"| `{m.group(1)}` | {m.group(3)} | {m.group(2)} – {m.group(4)} |")
    return "\n".join(out) + "\n"


def results(compare_out: str, limit_out: str, micro: str) -> int:
    c = cfg(compare_out) if compare_out else {}
    parts = [
        "# bench/RESULTS.md\n",
        "Regenerate everything below with one command: `bench/run.sh --all` (side-by-side run, limit run, "
        "micro-benchmarks; ~15 min on 2 cores). Raw files of the run this page was made from: "
        f"`bench/out/` (git-ignored) on the machine below; commit `{c.get('git', '?')}`.\n",
    ]
    if c.get("quick"):
        parts.append("**This page comes from a `--quick` run (smoke-test grids), not the full benchmark.**\n")
    loads = [open(p).read().strip() for p in (os.path.join(d or "", "load.txt") for d in (compare_out, limit_out)) if os.path.exists(p)]
    if loads:
        parts.append("Load average when each part started (1-minute average first; above ~1 means something else was using the 2 cores; the micro-benchmarks' reading includes the limit run's own processes just before):\n\n```\n" + "\n".join(loads) + "\n```\n")
    for path, title, cmd in (
        (os.path.join(compare_out, "comparison.md") if compare_out else "", "Side by side", "bench/run.sh"),
        (os.path.join(limit_out, "limit.md") if limit_out else "", "Limit", "bench/run.sh --limit"),
    ):
        parts.append(f"\n---\n\nCommand: `{cmd}`\n")
        if path and os.path.exists(path):
            body = open(path).read()
            parts.append(body.replace("\n# ", "\n## ", 1) if not body.startswith("# ") else "#" + body)
        else:
            parts.append(f"## {title}\n\n(not run)\n")
    parts.append("\n---\n\n## Micro-benchmarks (criterion)\n")
    parts.append("Command: `cargo bench -p openenv-microbench -- --warm-up-time 1 --measurement-time 3`. "
                 "One WS session costs the server ~55–70 µs of CPU and the load generator ~85–100 µs (tables above); "
                 "the message work measured here is ~1–2 µs of that: the rest is the kernel's TCP and tokio.\n")
    parts.append(micro_table(micro))
    # The long runs (30-minute soak, fuzz) are not part of `--all`: their last result is kept
    # in its own file, copied here so a regeneration does not lose it.
    for extra in ("soak-result.md",):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), extra)
        if os.path.exists(path):
            parts.append("\n---\n\n" + open(path).read())
    print("\n".join(parts))
    return 0


def capacity_entries(d: str | None) -> dict:
    """(mode, wait in ms) -> the capacity.json entry of a results directory."""
    if not d or not os.path.exists(os.path.join(d, "capacity.json")):
        return {}
    with open(os.path.join(d, "capacity.json")) as f:
        return {(c["mode"], round(c["wait_seconds"] * 1000)): c for c in json.load(f)}


def cap_text(c: dict | None) -> str:
    if not c:
        return "-"
    m = c["max_batch"]
    if m is None:
        return "none"
    return f"{m:,}" if c["limited_by"] == "server" else f"≥ {m:,} †"


def findmax(out: str) -> int:
    """Every searched server's capacity side by side (Python 0.3.0, Python 0.10 when run, ours):
    capacity, ratio to each Python release, cells and seconds."""
    c = cfg(out)
    names = {PY: "Python 0.3.0", PY010: "Python 0.10", OURS: "openenv-bench"}
    sides = [s for s in (PY, PY010, OURS) if result_dir(out, s)]
    caps = {infra: capacity_entries(result_dir(out, infra)) for infra in sides}
    walls = {}
    for infra in sides:
        p = os.path.join(result_dir(out, infra), "wall_seconds")
        walls[infra] = open(p).read().strip() if os.path.exists(p) else "-"
    pys = [s for s in sides if s != OURS]
    keys = sorted({k for v in caps.values() for k in v}, key=lambda k: (k[0] != "ws", k[1]))
    lines = [
        f"## Capacity search: openenv-bench vs the Python reference ({c.get('date', '?')})\n",
        f"Command: `bench/run.sh --find-max`. Every server: {c.get('workers', '?')} worker process(es), "
        f"pinned with `taskset -c {c.get('cpus', '?')}`, searched one after the other by the same "
        f"`openenv-bench scale --compare --find-max` (WS then HTTP), same criterion: success >= 95% and "
        f"total-latency p99 <= steps x wait + {c.get('find_max_slo_over_wait', '?')} s, wait "
        f"{c.get('find_max_wait', '?')} s, from N = {c.get('find_max_start', '?')}, doubling then "
        f"bisecting to 5%, at most {c.get('find_max_budget', '?')} s of search per protocol. "
        f"Python 0.3.0: openenv-core {c.get('openenv_core', '?')} + uvicorn {c.get('uvicorn', '?')}; "
        f"Python 0.10: openenv {c.get('openenv010', '?')} + uvicorn {c.get('uvicorn010', '?')} "
        f"(both `tests/python/reference_server.py`, MAX_CONCURRENT_ENVS={c.get('py_max_envs', '?')}); "
        f"ours: `openenv-bench serve` (no session cap). Commit `{c.get('git', '?')}`. "
        "† = a lower bound (the search stopped before the server failed).\n",
        "| Mode | wait_s | " + " | ".join(f"{names[s]} capacity" for s in sides)
        + "".join(f" | ours / {names[s]}" for s in pys if OURS in sides)
        + " | " + " | ".join(f"{names[s]}: cells, s" for s in sides)
        + " | " + " | ".join(f"{names[s]} limited by" for s in sides) + " |",
        "|---|---:|" + "---:|" * (len(sides) + (len(pys) if OURS in sides else 0) + len(sides)) + "---|" * len(sides),
    ]

    def ratio(us: dict | None, py: dict | None) -> str:
        if not (py and us and py["max_batch"] and us["max_batch"]):
            return "-"
        # A ratio of lower bounds says nothing: only two exact answers are divided.
        if us["limited_by"] == "server" and py["limited_by"] == "server":
            return f"{us['max_batch'] / py['max_batch']:.1f}x"
        return "n/a (a lower bound)"

    def cells(e: dict | None) -> str:
        return f"{len(e['cells'])}, {e['elapsed_seconds']:.0f}" if e else "-"

    for k in keys:
        es = {s: caps[s].get(k) for s in sides}
        row = [k[0], f"{k[1] / 1000:g}"] + [cap_text(es[s]) for s in sides]
        if OURS in sides:
            row += [ratio(es[OURS], es[s]) for s in pys]
        row += [cells(es[s]) for s in sides]
        row += [es[s]["limited_by"] if es[s] else "-" for s in sides]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Whole search (both protocols, server start excluded): "
                 + ", ".join(f"{names[s]} {walls[s]} s" for s in sides) + ". The answers as `scale` printed them:\n")
    for infra in sides:
        for k in keys:
            e = caps[infra].get(k)
            if e:
                cell = next((x for x in e["cells"] if x["n"] == e["first_failing"]), None)
                why = f" ({e['first_failing']:,} failed: {cell['reason']})" if cell else ""
                lines.append(f"- {names[infra]}, {k[0].upper()}: {cap_text(e)} sessions{why}; limited by {e['limited_by']}")
    if any(e["limited_by"] == "load_generator" for v in caps.values() for e in v.values()):
        lines.append("")
        lines.append("A search limited by the load generator stopped at a cell whose event loop lagged "
                     "(`scale` flags it saturated): its capacity is only a lower bound. On a quiet "
                     "machine this means the load generator, sharing the cores with the server, could "
                     "not start the sessions on time; with load from more cores or machines "
                     "(`scale --slurm`, `--worker-command`) the search can go further.")
    lines.append("")
    load = os.path.join(out, "load.txt")
    if os.path.exists(load):
        lines.append("Load average when each part started:\n\n```\n" + open(load).read().strip() + "\n```")
    print("\n".join(lines))
    return 0


def splice(path: str, name: str, section: str) -> int:
    """Replaces FILE's <!-- NAME --> ... <!-- /NAME --> block with SECTION's text (appends it)."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{begin}\n{open(section).read().rstrip()}\n{end}\n"
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n---\n\n" + block
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "warmup":
        return warmup(args[0], int(args[1]), float(args[2]) if len(args) > 2 else 60.0)
    if cmd == "cell-ok":
        print(f"{cell_ok(args[0], args[1], int(args[2]), float(args[3])):.4f}")
        return 0
    if cmd == "machine":
        print(machine())
        return 0
    if cmd == "compare":
        return compare(args[0])
    if cmd == "limit":
        return limit(args[0])
    if cmd == "results":
        return results(args[0], args[1], args[2] if len(args) > 2 else "")
    if cmd == "findmax":
        return findmax(args[0])
    if cmd == "splice":
        return splice(args[0], args[1], args[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
