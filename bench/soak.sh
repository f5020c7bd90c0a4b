#!/usr/bin/env bash
# Soak test of `openenv-bench serve`: MINUTES (default 30) of steady WebSocket load while the
# server's memory (RSS) and open file descriptors are sampled (whole process tree: all workers).
#
# Load (both with `openenv-bench scale` over loopback):
#   - HELD sessions (default 20000) held open the whole run: one step each that waits until the end;
#   - RATE sessions per second (default 5000) cycling: connect, reset, step (0 s), close, in
#     1-second cells (`--ramp 1`) back to back.
# Pass: RSS and fd count flat after the warm-up (the median of the last 30 s is at most
# MAX_GROWTH_PCT, default 5, above the median of the 30 s after WARMUP seconds, default 60),
# and no failed session.
#
#   bench/soak.sh                           # 30 minutes, 20000 held, 5000/s
#   MINUTES=3 bench/soak.sh                 # a short one
#   MINUTES=10 HELD=5000 RATE=1000 WORKERS=1 bench/soak.sh
#   LOAD_NICE=5 bench/soak.sh               # the load generators at a lower CPU priority than the
#                                           # server (on a machine shared with other work)
#
# Writes OUT (default bench/out/soak-<UTC time>/): samples.csv (t, rss_kib, fds, processes),
# server.log, the scale results (held/, cycle/), and soak.txt with the numbers and the verdict,
# which it also prints. Exit status 0 = pass, 1 = fail.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-30}
HELD=${HELD:-20000}
RATE=${RATE:-5000}
WARMUP=${WARMUP:-60}
WORKERS=${WORKERS:-2}
PORT=${PORT:-18731}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-5}
LOAD_NICE=${LOAD_NICE:-0}
BIN=${OPENENV_BENCH:-target/release/openenv-bench}
OUT=${OUT:-bench/out/soak-$(date -u +%Y%m%dT%H%M%SZ)}
DURATION=$((MINUTES * 60))
if [ "$DURATION" -lt $((WARMUP + 60)) ]; then
  echo "soak: MINUTES=$MINUTES is too short for WARMUP=$WARMUP s plus two 30 s windows" >&2
  exit 2
fi
[ -x "$BIN" ] || cargo build --release -p openenv-bench
mkdir -p "$OUT"
URL=http://127.0.0.1:$PORT

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

HOST=127.0.0.1 PORT=$PORT WORKERS=$WORKERS MAX_CONCURRENT_ENVS=0 \
  MAX_WAIT_SECONDS=$((DURATION + 300)) HEADER_TIMEOUT=60 \
  "$BIN" serve >"$OUT/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 100); do
  curl -sf "$URL/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$URL/health" >/dev/null || { echo "soak: server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

# Sampler: the server's process tree, every 2 s, until the server exits.
python3 - "$server" "$OUT/samples.csv" <<'PY' &
import os, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids
def rss_kib(p):
    try:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
def fds(p):
    try:
        return len(os.listdir(f"/proc/{p}/fd"))
    except OSError:
        return 0
t0 = time.time()
with open(out, "w") as f:
    f.write("t,rss_kib,fds,processes\n")
    while os.path.exists(f"/proc/{root}"):
        ps = [p for p in tree(root) if os.path.exists(f"/proc/{p}")]
        f.write(f"{time.time() - t0:.1f},{sum(map(rss_kib, ps))},{sum(map(fds, ps))},{len(ps)}\n")
        f.flush()
        time.sleep(2)
PY
pids+=("$!")

start=$(date +%s)
end=$((start + DURATION))
echo "soak: $MINUTES min, $HELD held + $RATE/s cycling (load at nice $LOAD_NICE), server pid $server ($WORKERS workers), out $OUT"

nice -n "$LOAD_NICE" "$BIN" scale -u "$URL" -m ws -n "$HELD" -w $((DURATION - 10)) -t $((DURATION + 120)) \
  --ramp 10 --cooldown 0 -o "$OUT/held" >"$OUT/held.log" 2>&1 &
held=$!
pids+=("$held")
sleep 12 # the held sessions are in before the cycling starts

cycles=0
while [ $(($(date +%s) + 15)) -lt "$end" ]; do
  nice -n "$LOAD_NICE" "$BIN" scale -u "$URL" -m ws -n "$RATE" -w 0 --ramp 1 --reps 10 --cooldown 0 \
    -o "$OUT/cycle" >>"$OUT/cycle.log" 2>&1 || echo "soak: a cycling run exited $?" >>"$OUT/cycle.log"
  cycles=$((cycles + 10))
done
cycled_until=$(date +%s)
wait "$held" || echo "soak: the held run exited $?" >>"$OUT/held.log"
kill -TERM "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
sleep 2

python3 - "$OUT" "$WARMUP" "$MAX_GROWTH_PCT" "$((cycled_until - start - 12))" <<'PY' | tee "$OUT/soak.txt"
import csv, glob, os, statistics, sys
out, warmup, max_growth, cycle_secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rows = list(csv.DictReader(open(os.path.join(out, "samples.csv"))))
t = [float(r["t"]) for r in rows]
last = t[-1] if t else 0.0
def window(key, lo, hi):
    v = [float(r[key]) for r, x in zip(rows, t) if lo <= x < hi]
    return statistics.median(v) if v else float("nan")
verdict = []
lines = [f"samples: {len(rows)} over {last:.0f} s (every 2 s)"]
for key, unit in (("rss_kib", "KiB"), ("fds", "fds")):
    base = window(key, warmup, warmup + 30)
    # the last 30 s before the drain (the server stops a few seconds before sampling ends)
    final = window(key, last - 40, last - 10)
    peak = max(float(r[key]) for r in rows)
    growth = (final - base) / base * 100 if base else float("nan")
    ok = growth <= max_growth
    verdict.append(ok)
    lines.append(f"{key}: after warm-up {base:.0f} {unit}, end {final:.0f} {unit}, peak {peak:.0f} {unit}, "
                 f"growth {growth:+.1f}% (limit {max_growth:.0f}%) {'ok' if ok else 'GROWING'}")
def sessions(sub):
    ok = failed = 0
    errors = {}
    for path in glob.glob(os.path.join(out, sub, "**", "summary.csv"), recursive=True):
        for r in csv.DictReader(open(path)):
            ok += int(float(r["successful"]))
            failed += int(float(r["failed"]))
            for e in filter(None, (r.get("error_types") or "").split(";")):
                k, _, n = e.rpartition(":")
                errors[k] = errors.get(k, 0) + int(n or 0)
    return ok, failed, errors
held_ok, held_failed, held_err = sessions("held")
cyc_ok, cyc_failed, cyc_err = sessions("cycle")
lines.append(f"held sessions: {held_ok} ok, {held_failed} failed {held_err or ''}")
lines.append(f"cycled sessions: {cyc_ok} ok, {cyc_failed} failed {cyc_err or ''} "
             f"({(cyc_ok + cyc_failed) / max(cycle_secs, 1):.0f}/s achieved over {cycle_secs:.0f} s)")
no_failures = held_failed == 0 and cyc_failed == 0 and held_ok > 0 and cyc_ok > 0
verdict.append(no_failures)
lines.append("soak: " + ("PASS" if all(verdict) else "FAIL"))
print("\n".join(lines))
sys.exit(0 if all(verdict) else 1)
PY
