#!/usr/bin/env bash
# Shared helpers for the deployment tests (sourced). Every daemon a test starts writes a pid file
# under $RUN_DIR; stop_pidfiles stops exactly those processes.

# Non-interactive: daemons started with fd 0 closed (CI may give no stdin) break SLURM step
# launches, so stdin is always /dev/null.
exec </dev/null

DEPLOY_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DEPLOY_TESTS/../.." && pwd)
TESTBED=$DEPLOY_TESTS/testbed
# One work dir per run (results, logs, configs, pid files); never inside the repository.
export DEPLOY_WORK=${DEPLOY_WORK:-/var/tmp/openenv-deploy-tests/run-$(date +%Y%m%d-%H%M%S)-$$}
# Kept between runs on the same machine (the Envoy venv); safe to delete.
export DEPLOY_CACHE=${DEPLOY_CACHE:-/var/tmp/openenv-deploy-cache}
export RUN_DIR=$DEPLOY_WORK/run
export RESULTS=$DEPLOY_WORK/experiments/results
export BIN=${OPENENV_BENCH:-$REPO/target/release/openenv-bench}
export STATIC_BIN=${OPENENV_BENCH_STATIC:-$REPO/target/static/x86_64-unknown-linux-gnu/release/openenv-bench}
export ENVOY=${ENVOY:-$DEPLOY_CACHE/envoy-venv/bin/envoy}
mkdir -p "$RUN_DIR" "$RESULTS"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# alive PID: running and not a zombie (PID 1 here reaps slowly; pgrep would match zombies).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }

# stop_pidfiles FILE...: SIGTERM the processes named in the pid files, wait up to 15 s
# (then SIGKILL), remove the files.
stop_pidfiles() {
  local f p pids=() i any
  for f in "$@"; do
    [ -s "$f" ] || continue
    p=$(tr -dc '0-9' < "$f")
    [ -n "$p" ] && alive "$p" && pids+=("$p")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    for i in $(seq 1 150); do
      any=0; for p in "${pids[@]}"; do alive "$p" && any=1; done
      [ $any = 0 ] && break; sleep 0.1
    done
    for p in "${pids[@]}"; do alive "$p" && { log "pid $p ignored SIGTERM: SIGKILL"; kill -9 "$p" 2>/dev/null || true; }; done
  fi
  rm -f "$@"
}

# free_port FROM: the first port >= FROM with no listener on it. Checked with ss rather than by
# binding: our server uses SO_REUSEPORT, so a second server on a busy port would start and share it.
free_port() {
  local p=$1
  while ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do
    p=$((p + 1))
  done
  echo "$p"
}

# wait_http URL [SECONDS]: until URL answers 2xx.
wait_http() {
  local url=$1 secs=${2:-30} i
  for i in $(seq 1 $((secs * 10))); do
    curl -sf -m 2 -o /dev/null "$url" && return 0
    sleep 0.1
  done
  return 1
}

# wait_gone URL [SECONDS]: until nothing answers at URL.
wait_gone() {
  local url=$1 secs=${2:-15} i
  for i in $(seq 1 $((secs * 10))); do
    curl -s -m 1 -o /dev/null "$url" || return 0
    sleep 0.1
  done
  return 1
}

# summary_check DIR MIN_RATE [EXPECTED_HOSTS]: every row of every summary.csv under DIR has a
# success rate >= MIN_RATE (and unique_hosts >= EXPECTED_HOSTS); prints one line per row.
summary_check() {
  python3 - "$@" <<'PY'
import csv, glob, os, sys
d, rate = sys.argv[1], float(sys.argv[2])
hosts = int(sys.argv[3]) if len(sys.argv) > 3 else 0
files = sorted(glob.glob(os.path.join(d, "**", "summary.csv"), recursive=True))
if not files:
    sys.exit(f"no summary.csv under {d}")
bad = 0
for f in files:
    for r in csv.DictReader(open(f)):
        n = int(r["num_requests"] or r["batch_size"])
        ok = int(r["successful"])
        uh = int(float(r.get("unique_hosts") or 0))
        good = n > 0 and ok / n >= rate and uh >= hosts
        bad += not good
        print(f"  {r['mode']:>4} N={n:<6} wait={r['wait_seconds']:<4} ok={ok:<6} failed={r['failed']:<5} "
              f"p99={float(r['total_p99'] or 'nan'):.3f}s hosts={uh} {'ok' if good else 'BELOW ' + str(rate)}")
sys.exit(1 if bad else 0)
PY
}

# host_counts DIR: "host_url count" over every raw.jsonl under DIR (successful sessions).
host_counts() {
  python3 - "$1" <<'PY'
import collections, glob, json, os, sys
c = collections.Counter()
for f in glob.glob(os.path.join(sys.argv[1], "**", "raw.jsonl"), recursive=True):
    for line in open(f):
        r = json.loads(line)
        if r.get("success"):
            c[r.get("host_url") or "?"] += 1
for h, n in sorted(c.items()):
    print(h, n)
PY
}

# max_batch DIR [THRESHOLD]: largest N whose mean success rate over repetitions is >= THRESHOLD.
max_batch() {
  python3 - "$1" "${2:-0.95}" <<'PY'
import collections, csv, glob, os, sys
rates = collections.defaultdict(list)
for f in glob.glob(os.path.join(sys.argv[1], "**", "summary.csv"), recursive=True):
    for r in csv.DictReader(open(f)):
        n = int(r["num_requests"] or r["batch_size"])
        rates[(r["mode"], n)].append(int(r["successful"]) / n if n else 0)
best = {}
for (mode, n), v in rates.items():
    if sum(v) / len(v) >= float(sys.argv[2]):
        best[mode] = max(best.get(mode, 0), n)
print(" ".join(f"{m}={n}" for m, n in sorted(best.items())) or "none")
PY
}

# record INFRA KEY VALUE: facts for the final report (max batch, durations).
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$DEPLOY_WORK/facts.tsv"; }

# Sweep used by every deployment's "one sweep": the project's main job, `openenv-bench experiment
# --infra NAME --url URL`, WS and HTTP, wait 1 s, 1 repetition: small enough for CI, large enough
# to find where each infrastructure stops at 95 % on this 2-core machine.
export SWEEP_GRID=${SWEEP_GRID:-1,16,256,1024,4096,16384}
export SWEEP_WAIT=${SWEEP_WAIT:-1.0}
export SWEEP_REPS=${SWEEP_REPS:-1}

# run_sweep INFRA URL [RUNNER...]: the sweep against URL (RUNNER, e.g. `nshost head`, runs the
# load generator elsewhere) into $RESULTS/INFRA/<date>/ (what `analyze --all` reads); prints each
# cell and records the max batch at 95 %.
run_sweep() {
  local infra=$1 url=$2; shift 2
  local reports=$DEPLOY_WORK/experiments/reports/$infra
  mkdir -p "$reports"
  log "$infra: experiment --url $url: N=$SWEEP_GRID wait=$SWEEP_WAIT reps=$SWEEP_REPS, WS + HTTP"
  if ! "$@" "$BIN" experiment --infra "$infra" --url "$url" --requests-grid "$SWEEP_GRID" \
        --wait-grid "$SWEEP_WAIT" --reps "$SWEEP_REPS" --hardware "$infra" --cores "$(nproc)" -t 120 \
        --results-dir "$RESULTS" -o "$reports/figures/" > "$reports/experiment.log" 2>&1; then
    tail -n 20 "$reports/experiment.log" >&2
    log "$infra: experiment exited non-zero (cells below the threshold are expected near the limit)"
  fi
  local dir; dir=$(ls -dt "$RESULTS/$infra"/*/ 2>/dev/null | head -1)
  [ -n "$dir" ] && [ -s "$dir/summary.csv" ] || { tail -n 20 "$reports/experiment.log" >&2; die "$infra: the sweep wrote no summary.csv"; }
  summary_check "$dir" 0.95 || true     # the sweep looks for the limit: the largest cells may fail
  local mb; mb=$(max_batch "$dir" 0.95)
  log "$infra: max batch at 95 % success: $mb (results $dir)"
  record "$infra" max_batch "$mb"
}

# run_cell NAME URL N WAIT MIN_HOSTS [RUNNER...]: one scale cell that must fully succeed.
run_cell() {
  local name=$1 url=$2 n=$3 wait=$4 hosts=$5; shift 5
  local dir=$DEPLOY_WORK/cells/$name
  mkdir -p "$dir"
  local t0=$SECONDS
  if ! "$@" "$BIN" scale -u "$url" -m ws -n "$n" -w "$wait" -t 120 --expected-hosts "$hosts" \
        -o "$dir" > "$dir/scale.log" 2>&1; then
    tail -n 20 "$dir/scale.log" >&2
    summary_check "$dir" 1.0 "$hosts" >&2 || true
    die "$name: scale cell N=$n wait=$wait failed"
  fi
  summary_check "$dir" 1.0 "$hosts" >&2 || die "$name: cell N=$n wait=$wait below 100 % or fewer than $hosts hosts"
  log "$name: cell N=$n wait=$wait passed in $((SECONDS - t0)) s"
}
