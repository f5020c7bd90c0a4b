#!/usr/bin/env bash
# Side-by-side benchmark: the Python reference (openenv-core 0.3.0 create_app + uvicorn), the same
# benchmark environment on the current OpenEnv (openenv 0.10.0 create_app + uvicorn) and
# `openenv-bench serve`, all driven by `openenv-bench scale` on the same grid, one after the
# other, pinned to the same cores. Or, with --limit, our server alone up to this machine's limit.
#
#   bench/run.sh            # both servers; writes bench/out/<stamp>/{comparison.md,results/,reports/,...}
#   bench/run.sh --limit    # ours alone: largest N held at >=95% with wait 10 s; writes limit.md
#   bench/run.sh --all      # both of the above, the micro-benchmarks, then writes bench/RESULTS.md
#   bench/run.sh --quick    # small grids (a smoke test, ~2 min; combines with --limit / --all)
#   bench/run.sh --find-max # both servers' capacity searched with one criterion (wait 1 s, p99 <=
#                           # wait + 0.5 s): capacity ratio, cells and seconds per search; writes
#                           # findmax.md and its section in bench/RESULTS.md
#   bench/run.sh --ours-only / --python-only (0.3.0 and 0.10) / --no-python010
#
# Knobs (environment): CPUS (cores for servers and load generator, default 0-1), WORKERS (2),
# WS_GRID, WAITS, HTTP_GRID, WAIT0_N, MEM_N, MEM_WAIT, REPS, PY_MAX_ENVS, SCALE_TIMEOUT,
# PY_CELL_TIMEOUT, CELL_TIMEOUT, OUT, BIN (skip the build), SKIP_SETUP=1 (reuse the venvs),
# OPENENV_VENV (.venv, openenv-core 0.3.0), OPENENV010_VENV (.venv-openenv010, openenv 0.10.0),
# WARMUP_SECONDS (90: how long a server may take to answer from every worker),
# find-max mode: FM_WAIT (1.0), FM_SLO_OVER_WAIT (0.5), FM_START (16), FM_BUDGET (120 s per protocol),
# SCALE_ARGS (more `scale` flags for every cell, e.g. "--source-addrs 127.0.0.1,127.0.0.2");
# limit mode: LIMIT_GRID, LIMIT_WORKERS, LIMIT_WAIT, LIMIT_TIMEOUT, LIMIT_TW_TIMEOUT,
# LIMIT_SOURCE_ADDRS (48 loopback source addresses; 0 = scale's automatic choice),
# LIMIT_LAUNCH_BATCH (0: every process launches its sessions in one burst).
# Requires: cargo, python3, taskset (util-linux), timeout (coreutils).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"

MODE=compare QUICK=0 SIDES="python python010 ours"
for a in "$@"; do
  case $a in
    --limit) MODE=limit ;;
    --find-max) MODE=findmax ;;
    --all) MODE=all ;;
    --quick) QUICK=1 ;;
    --ours-only) SIDES="ours" ;;
    --python-only) SIDES="python python010" ;;
    --no-python010) SIDES="python ours" ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $a (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$MODE" = all ]; then
  # One command for bench/RESULTS.md: the side-by-side run, the limit run (same binary), criterion.
  T=$(date -u +%Y-%m-%d_%H%M%S)
  Q=""; [ "$QUICK" = 1 ] && Q=--quick
  C=$ROOT/bench/out/$T L=$ROOT/bench/out/$T-limit
  OUT=$C "$0" $Q || { echo "side-by-side run failed" >&2; exit 1; }
  OUT=$L BIN=$C/bin/openenv-bench "$0" --limit $Q || echo "limit run failed (going on)" >&2
  echo "$(date -u +%H:%M:%S) micro-benchmarks: $(uptime)" >>"$C/load.txt"
  cargo bench -p openenv-microbench -- --warm-up-time 1 --measurement-time 3 >"$C/micro.txt" 2>&1 ||
    echo "micro-benchmarks failed: $C/micro.txt" >&2
  # Paths relative to the repository: the page records provenance (commit, date, machine), not where it ran.
  python3 "$HERE/benchtool.py" results "$C" "$L" "$C/micro.txt" | sed "s|$ROOT/||g" >"$HERE/RESULTS.md.new"
  # The last capacity search (bench/run.sh --find-max) keeps its section.
  F=$ROOT/bench/out/latest-findmax/findmax.md
  [ -f "$F" ] && python3 "$HERE/benchtool.py" splice "$HERE/RESULTS.md.new" find-max "$F"
  mv "$HERE/RESULTS.md.new" "$HERE/RESULTS.md"
  echo "wrote bench/RESULTS.md (from $C, $L)"
  exit 0
fi

NCPU=$(nproc)
CPUS=${CPUS:-$([ "$NCPU" -ge 2 ] && echo 0-1 || echo 0)}
WORKERS=${WORKERS:-2}
REPS=${REPS:-1}
if [ "$QUICK" = 1 ]; then
  WS_GRID=${WS_GRID:-64,1024,2048}
  WAITS=${WAITS:-1.0}
  HTTP_GRID=${HTTP_GRID:-1024}
  WAIT0_N=${WAIT0_N:-2000}
  MEM_N=${MEM_N:-1024}
  MEM_WAIT=${MEM_WAIT:-5}
  LIMIT_GRID=${LIMIT_GRID:-10000,30000}
else
  WS_GRID=${WS_GRID:-1,16,64,256,512,1024,2048,4096,8192,16384,32768}
  WAITS=${WAITS:-1.0 0.1}
  HTTP_GRID=${HTTP_GRID:-64,256,1024,4096}
  WAIT0_N=${WAIT0_N:-10000}
  MEM_N=${MEM_N:-2048}
  MEM_WAIT=${MEM_WAIT:-10}
  LIMIT_GRID=${LIMIT_GRID:-100000,200000,400000,600000}
fi
P99_N=${P99_N:-2048}
HTTP_N=${HTTP_N:-1024}
PY_MAX_ENVS=${PY_MAX_ENVS:-1000000}
SCALE_TIMEOUT=${SCALE_TIMEOUT:-60}   # scale -t: deadline of every network operation
CELL_TIMEOUT=${CELL_TIMEOUT:-300}    # whole scale invocation (one cell), ours
PY_CELL_TIMEOUT=${PY_CELL_TIMEOUT:-240}
PY_PORT=${PY_PORT:-18102}
PY010_PORT=${PY010_PORT:-18104}
OURS_PORT=${OURS_PORT:-18101}
LIMIT_PORT=${LIMIT_PORT:-18103}
LIMIT_WAIT=${LIMIT_WAIT:-10}
LIMIT_TIMEOUT=${LIMIT_TIMEOUT:-120}
LIMIT_WORKERS=${LIMIT_WORKERS:-36}   # ~19,900 sockets each (open-files hard limit 20,000)
# Our server closes a connection whose request head has not arrived 10 s after accept (slow-loris
# guard). In a 250k connect storm on 2 cores the load generator sends some upgrade requests ~20 s
# after the kernel completed their TCP handshakes: the limit run gives them the cell's timeout.
HEADER_TIMEOUT=${HEADER_TIMEOUT:-10}
[ "$MODE" = limit ] && HEADER_TIMEOUT=${LIMIT_HEADER_TIMEOUT:-$LIMIT_TIMEOUT}
LIMIT_TW_TIMEOUT=${LIMIT_TW_TIMEOUT:-10}   # conntrack TIME_WAIT timeout during --limit (restored)
HARDWARE=${HARDWARE:-local-${NCPU}c}
VENV=${OPENENV_VENV:-$ROOT/.venv}
VENV010=${OPENENV010_VENV:-$ROOT/.venv-openenv010}
DATE=$(date -u +%Y-%m-%d)
STAMP=$(date -u +%Y-%m-%d_%H%M%S)
SUFFIX=""
[ "$MODE" = limit ] && SUFFIX=-limit
[ "$MODE" = findmax ] && SUFFIX=-findmax
OUT=${OUT:-$ROOT/bench/out/$STAMP$SUFFIX}
mkdir -p "$OUT"/{logs,procmon,bin,results}
ln -sfn "$OUT" "$ROOT/bench/out/latest$SUFFIX" 2>/dev/null || true

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }
need() { command -v "$1" >/dev/null || { echo "bench/run.sh needs $1" >&2; exit 1; }; }
need python3; need taskset; need timeout

# ---- binaries: our own copy, so a rebuild in the checkout cannot swap it mid-run
if [ -z "${BIN:-}" ]; then
  need cargo
  log "building openenv-bench (release)"
  cargo build --release -q -p openenv-bench
  BIN=$ROOT/target/release/openenv-bench
fi
cp "$BIN" "$OUT/bin/openenv-bench"
BIN=$OUT/bin/openenv-bench
export OPENENV_BENCH=$BIN  # benchtool.py reads results through `analyze --json`
SCRIPT_PY=${PY_SERVER:-$ROOT/tests/python/reference_server.py}
if [[ " $SIDES " == *" python"* ]] && { [ "$MODE" = compare ] || [ "$MODE" = findmax ]; }; then
  if [ "${SKIP_SETUP:-0}" != 1 ]; then
    log "python venv: scripts/setup-python.sh"
    OPENENV_VENV=$VENV OPENENV010_VENV=$VENV010 "$ROOT/scripts/setup-python.sh" >>"$OUT/logs/setup-python.log" 2>&1 ||
      { echo "scripts/setup-python.sh failed; see $OUT/logs/setup-python.log" >&2; exit 1; }
  fi
  [ -f "$SCRIPT_PY" ] || { echo "missing $SCRIPT_PY (the Python benchmark server)" >&2; exit 1; }
fi

# ---- servers
SERVER_PID=""
stop_server() {
  local pid=$SERVER_PID
  [ -n "$pid" ] || return 0
  SERVER_PID=""
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # It was started with setsid: its process group is its own; end what is left of it.
  kill -KILL -- "-$pid" 2>/dev/null || true
  sleep 0.5
}
RESTORE_TW=""
cleanup() {
  stop_server
  if [ -n "$RESTORE_TW" ]; then
    echo "$RESTORE_TW" >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait 2>/dev/null &&
      log "restored nf_conntrack_tcp_timeout_time_wait=$RESTORE_TW"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() { # side port workers
  local side=$1 port=$2 workers=$3
  port_free "$port" || { echo "port $port is busy; set ${side^^}_PORT" >&2; exit 1; }
  if [ "$side" = python ] || [ "$side" = python010 ]; then
    local py=$VENV/bin/python
    [ "$side" = python010 ] && py=$VENV010/bin/python
    PORT=$port HOST=127.0.0.1 WORKERS=$workers MAX_CONCURRENT_ENVS=$PY_MAX_ENVS \
      taskset -c "$CPUS" setsid "$py" "$SCRIPT_PY" >"$OUT/logs/server-$side.log" 2>&1 &
  else
    PORT=$port HOST=127.0.0.1 WORKERS=$workers MAX_CONCURRENT_ENVS=0 HEADER_TIMEOUT=$HEADER_TIMEOUT \
      taskset -c "$CPUS" setsid "$BIN" serve >"$OUT/logs/server-$side.log" 2>&1 &
  fi
  SERVER_PID=$!
  python3 "$HERE/benchtool.py" warmup "http://127.0.0.1:$port" "$workers" "${WARMUP_SECONDS:-90}" >>"$OUT/run.log" 2>&1 || {
    tail -20 "$OUT/logs/server-$side.log" >&2
    echo "server $side did not come up with $workers workers" >&2
    exit 1
  }
  sleep 2 # let start-up garbage settle before the idle RSS
}

conntrack_room() { # wait until a cell of N connections fits in the conntrack table (TIME_WAIT drains)
  local n=$1 max cnt waited=0
  max=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null) || return 0
  while :; do
    cnt=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)
    [ $((cnt + n + n / 20)) -le $((max * 97 / 100)) ] && break
    [ "$cnt" -le $((max / 100)) ] && break # nothing left to drain (or conntrack not in use)
    [ "$waited" -ge 200 ] && { log "conntrack: $cnt/$max still after ${waited}s; going on"; break; }
    [ "$waited" = 0 ] && log "conntrack: $cnt/$max entries; waiting for room for $n connections"
    sleep 5; waited=$((waited + 5))
  done
}

wtag() { printf '%g' "$1" | tr . p; }

# run_cell infra mode N wait procmon-name timeout [extra scale args]; returns scale's exit code
run_cell() {
  local infra=$1 mode=$2 n=$3 w=$4 name=$5 ct=$6; shift 6
  conntrack_room "$n"
  local dir=$OUT/${RESULTS_SUB:-results}/$infra/$DATE
  log "$infra: $mode N=$n wait=$w"
  set +e
  taskset -c "$CPUS" python3 "$HERE/procmon.py" --root "$SERVER_PID" --label "$name" \
    --out "$OUT/procmon/$name.json" -- \
    timeout -s INT -k 30 "$ct" "$BIN" scale -u "http://127.0.0.1:$PORT_NOW" -m "$mode" -n "$n" -w "$w" \
    --reps "$REPS" -o "$dir" -t "$SCALE_TIMEOUT" --hardware "$HARDWARE" ${SCALE_ARGS:-} "$@" \
    >>"$OUT/logs/scale-$infra.log" 2>&1
  local rc=$?
  set -e
  grep '^\[' "$OUT/logs/scale-$infra.log" | tail -n "$REPS" | sed 's/^/    /' | tee -a "$OUT/run.log" >&2 || true
  return $rc
}

cell_ok() { # infra mode N wait -> success >= 0.95 ?
  local s
  s=$(python3 "$HERE/benchtool.py" cell-ok "$OUT/results/$1/$DATE" "$2" "$3" "$4")
  python3 -c "import sys; sys.exit(0 if float('$s') >= 0.95 else 1)"
}

measure_side() {
  local side=$1 infra port ct
  if [ "$side" = python ]; then infra=python-openenv port=$PY_PORT ct=$PY_CELL_TIMEOUT
  elif [ "$side" = python010 ]; then infra=python-openenv010 port=$PY010_PORT ct=$PY_CELL_TIMEOUT
  else infra=openenv-bench port=$OURS_PORT ct=$CELL_TIMEOUT; fi
  PORT_NOW=$port
  log "== $infra: starting $WORKERS worker(s) on 127.0.0.1:$port, cores $CPUS"
  echo "$(date -u +%H:%M:%S) $infra start: $(uptime)" >>"$OUT/load.txt"
  start_server "$side" "$port" "$WORKERS"
  python3 "$HERE/procmon.py" --root "$SERVER_PID" --out "$OUT/procmon/$infra-idle.json" -- sleep 1
  # Memory per open session first, on the fresh server: after a burst the allocators keep freed
  # memory, which would hide the cost of the next cell's sessions.
  run_cell "$infra" ws "$MEM_N" "$MEM_WAIT" "$infra-memory" "$ct" || true
  # WS grids at each wait: stop at the first cell under 95% (the Python stack is slow to fail).
  for w in $WAITS; do
    for n in ${WS_GRID//,/ }; do
      run_cell "$infra" ws "$n" "$w" "$infra-ws-w$(wtag "$w")-n$n" "$ct" || true
      cell_ok "$infra" ws "$n" "$w" || { log "$infra: ws wait $w stops at N=$n (<95%)"; break; }
    done
  done
  for n in ${HTTP_GRID//,/ }; do
    run_cell "$infra" http "$n" 1.0 "$infra-http-w1-n$n" "$ct" || true
    cell_ok "$infra" http "$n" 1.0 || { log "$infra: http stops at N=$n (<95%)"; break; }
  done
  # The headline cell once more with every session launched at once (the Python original's asyncio.gather
  # burst, as the Python baseline in docs/background.md was measured), into its own directory so analyze does not take
  # it for a repetition.
  if "$BIN" scale --help | grep -q -- --launch-batch; then
    RESULTS_SUB=burst run_cell "$infra" ws "$P99_N" 1.0 "$infra-burst" "$ct" --launch-batch 0 || true
  fi
  # Full sessions per second: connect + reset + step + close, no wait.
  run_cell "$infra" ws "$WAIT0_N" 0 "$infra-wait0" "$ct" || true
  stop_server
}

write_config() { # extra json fields
  python3 - "$OUT/config.json" "$@" <<EOF
import json, subprocess, sys
def v(mod, venv="$VENV"):
    try:
        return subprocess.run([f"{venv}/bin/python", "-c", f"import importlib.metadata as m; print(m.version('{mod}'))"],
                              capture_output=True, text=True, timeout=20).stdout.strip() or None
    except Exception:
        return None
machine = subprocess.run(["python3", "$HERE/benchtool.py", "machine"], capture_output=True, text=True).stdout.strip()
doc = dict(date="$STAMP", mode="$MODE", quick=$QUICK == 1, cpus="$CPUS", workers=$WORKERS, reps=$REPS, ws_grid="$WS_GRID",
           waits="$WAITS", http_grid="$HTTP_GRID", p99_n=$P99_N, http_n=$HTTP_N, wait0_n=$WAIT0_N,
           mem_n=$MEM_N, mem_wait=$MEM_WAIT, py_max_envs=$PY_MAX_ENVS, scale_timeout=$SCALE_TIMEOUT,
           machine=machine, openenv_core=v("openenv-core"), uvicorn=v("uvicorn"),
           openenv010=v("openenv", "$VENV010"), uvicorn010=v("uvicorn", "$VENV010"),
           git=subprocess.run(["git", "-C", "$ROOT", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip())
for kv in sys.argv[2:]:
    k, _, val = kv.partition("=")
    doc[k] = val
json.dump(doc, open(sys.argv[1], "w"), indent=1)
EOF
}

echo "$(date -u +%H:%M:%S) $MODE start: $(uptime)" >>"$OUT/load.txt"
if [ "$MODE" = findmax ]; then
  # The same search against each server, one after the other: WS and HTTP (scale --compare) at
  # wait FM_WAIT, success >= 95% and total p99 <= steps x wait + FM_SLO_OVER_WAIT, from N =
  # FM_START, at most FM_BUDGET seconds per protocol. Each side's search is timed as a whole.
  FM_WAIT=${FM_WAIT:-1.0} FM_SLO_OVER_WAIT=${FM_SLO_OVER_WAIT:-0.5} FM_START=${FM_START:-16}
  FM_BUDGET=${FM_BUDGET:-120}
  write_config find_max_wait="$FM_WAIT" find_max_slo_over_wait="$FM_SLO_OVER_WAIT" \
    find_max_start="$FM_START" find_max_budget="$FM_BUDGET"
  log "output: $OUT"
  for side in $SIDES; do
    if [ "$side" = python ]; then infra=python-openenv port=$PY_PORT
    elif [ "$side" = python010 ]; then infra=python-openenv010 port=$PY010_PORT
    else infra=openenv-bench port=$OURS_PORT; fi
    PORT_NOW=$port
    log "== $infra: starting $WORKERS worker(s) on 127.0.0.1:$port, cores $CPUS"
    echo "$(date -u +%H:%M:%S) $infra start: $(uptime)" >>"$OUT/load.txt"
    start_server "$side" "$port" "$WORKERS"
    t0=$(date +%s.%N)
    set +e
    taskset -c "$CPUS" timeout -s INT -k 30 $((FM_BUDGET * 2 + 600)) "$BIN" scale -u "http://127.0.0.1:$port" \
      --compare -w "$FM_WAIT" --find-max --start "$FM_START" --slo-over-wait "$FM_SLO_OVER_WAIT" \
      --budget "$FM_BUDGET" -o "$OUT/results/$infra/$DATE" -t "$SCALE_TIMEOUT" --hardware "$HARDWARE" \
      ${SCALE_ARGS:-} >"$OUT/logs/scale-$infra.log" 2>&1
    rc=$?
    set -e
    t1=$(date +%s.%N)
    python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$t1" >"$OUT/results/$infra/$DATE/wall_seconds"
    log "$infra: scale --find-max exit $rc, $(cat "$OUT/results/$infra/$DATE/wall_seconds") s"
    tail -n 3 "$OUT/logs/scale-$infra.log" | sed 's/^/    /' | tee -a "$OUT/run.log" >&2
    stop_server
  done
  python3 "$HERE/benchtool.py" findmax "$OUT" | sed "s|$ROOT/||g" >"$OUT/findmax.md"
  python3 "$HERE/benchtool.py" splice "$HERE/RESULTS.md" find-max "$OUT/findmax.md"
  log "table: $OUT/findmax.md (also in bench/RESULTS.md)"
  cat "$OUT/findmax.md"
  exit 0
fi
if [ "$MODE" = compare ]; then
  write_config
  log "output: $OUT"
  for side in $SIDES; do measure_side "$side"; done
  python3 "$HERE/benchtool.py" compare "$OUT" >/dev/null
  cores=$(taskset -c "$CPUS" nproc)
  "$BIN" analyze --all --results-dir "$OUT/results" -o "$OUT/reports/figures" \
    --cores "python-openenv=$cores" --cores "python-openenv010=$cores" --cores "openenv-bench=$cores" \
    >"$OUT/logs/analyze.log" 2>&1 ||
    log "analyze failed: see $OUT/logs/analyze.log"
  log "table: $OUT/comparison.md; report: $OUT/reports/tables.md; figures: $OUT/reports/figures/"
  cat "$OUT/comparison.md"
  exit 0
fi

# ---- --limit: our server alone, as many sessions as this machine holds (wait LIMIT_WAIT s)
INFRA=openenv-bench-limit
NOTES=$OUT/limit-notes.txt
TW=/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait
conntrack_note="nf_conntrack_max $(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo n/a) (unchanged)"
if [ -w "$TW" ] && [ -n "$LIMIT_TW_TIMEOUT" ] && [ "$LIMIT_TW_TIMEOUT" != 0 ]; then
  RESTORE_TW=$(cat "$TW")
  if echo "$LIMIT_TW_TIMEOUT" >"$TW" 2>/dev/null; then
    conntrack_note="$conntrack_note; nf_conntrack_tcp_timeout_time_wait lowered $RESTORE_TW -> $LIMIT_TW_TIMEOUT s for the run (restored at exit) so closed connections leave the table between cells"
    log "conntrack: TIME_WAIT timeout $RESTORE_TW -> $LIMIT_TW_TIMEOUT s (restored at exit)"
  else
    RESTORE_TW=""
  fi
fi
write_config infra="$INFRA" workers="$LIMIT_WORKERS" wait="$LIMIT_WAIT" timeout="$LIMIT_TIMEOUT" \
  limit_grid="$LIMIT_GRID" conntrack_note="$conntrack_note" header_timeout="$HEADER_TIMEOUT" \
  source_addrs="${LIMIT_SOURCE_ADDRS:-48}"
log "output: $OUT"
PORT_NOW=$LIMIT_PORT
log "== $INFRA: $LIMIT_WORKERS workers on 127.0.0.1:$LIMIT_PORT, cores $CPUS"
start_server ours "$LIMIT_PORT" "$LIMIT_WORKERS"
{
  echo "before the run:"
  echo "  nofile (this shell) soft $(ulimit -Sn) hard $(ulimit -Hn); fs.nr_open $(cat /proc/sys/fs/nr_open)"
  echo "  ip_local_port_range $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' '); tcp_mem (pages) $(cat /proc/sys/net/ipv4/tcp_mem | tr '\t' ' ')"
  echo "  conntrack $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null)/$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null); $(grep MemAvailable /proc/meminfo)"
} >"$NOTES"
SCALE_TIMEOUT=$LIMIT_TIMEOUT
# scale spreads big cells over at most 24 loopback source addresses by itself; past ~250k the
# kernel's search for a free port (at connect, IP_BIND_ADDRESS_NO_PORT) slows down once an address
# has ~40% of its ~28k ports in use, so give it more addresses.
if [ -n "${LIMIT_SOURCE_ADDRS:-48}" ] && [ "${LIMIT_SOURCE_ADDRS:-48}" != 0 ] && [[ "${SCALE_ARGS:-}" != *--source-addrs* ]]; then
  SCALE_ARGS="${SCALE_ARGS:-} --source-addrs $(seq -s, -f '127.0.0.%g' 1 "${LIMIT_SOURCE_ADDRS:-48}")"
fi
# All sessions of a process launched in one burst (as the Python original's asyncio.gather): the point here
# is how many the machine holds at once. scale's default (batches of 32, replies handled in
# between) keeps the client's queue out of the latencies but, at 2 cores' ~5k sessions/s, never
# has more than ~90k sessions open at wait 10 s.
if "$BIN" scale --help | grep -q -- --launch-batch; then
  SCALE_ARGS="${SCALE_ARGS:-} --launch-batch ${LIMIT_LAUNCH_BATCH:-0}"
fi
for n in ${LIMIT_GRID//,/ }; do
  run_cell "$INFRA" ws "$n" "$LIMIT_WAIT" "limit-n$n" $((LIMIT_TIMEOUT * 3 + 60)) --cooldown 0 || true
  {
    echo "after N=$n: conntrack $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null)/$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null)"
    echo "  $(grep -m1 TCP: /proc/net/sockstat); $(grep MemAvailable /proc/meminfo)"
    tail -n 3 "$OUT/logs/scale-$INFRA.log" | sed 's/^/  scale: /'
  } >>"$NOTES"
  cell_ok "$INFRA" ws "$n" "$LIMIT_WAIT" || { log "limit: N=$n under 95%: stop"; break; }
done
stop_server
grep -iE 'error|limit|refus|too many' "$OUT/logs/server-ours.log" | sort | uniq -c | sort -rn | head -20 |
  sed 's/^/  server log: /' >>"$NOTES" || true
python3 "$HERE/benchtool.py" limit "$OUT" >/dev/null
"$BIN" analyze -i "$OUT/results/$INFRA/$DATE" -o "$OUT/reports/figures" --cores "$INFRA=$(taskset -c "$CPUS" nproc)" \
  >"$OUT/logs/analyze.log" 2>&1 || log "analyze failed: see $OUT/logs/analyze.log"
cat "$OUT/limit.md"
