#!/usr/bin/env bash
# SLURM multi-node: a 4-node cluster of network namespaces (head = login node + slurmctld,
# node1..node4 one slurmd each; only 10.200.0.0/24 inside them). For each LB given (default:
# envoy haproxy nginx):
#   alloc.sh serve_multi.sh (LB on node1, servers on node2..node4, pre-flight that must see all 3);
#   a 2,000-session WS cell through the LB, all successful and spread over the 3 servers;
#   a cell with one server step cancelled mid-way, then a 2,000-session cell that must fully pass on
#   the 2 remaining servers (the LB routes around the dead one);
#   for Envoy (LINKDOWN_LBS), a network fault: a server's link down mid-cell (link_down below);
#   scancel ends the allocation.
# Then the standard sweep, as a batch job: sbatch run_multinode_experiment.sh (LB=envoy, WS and HTTP
# from 16 client addresses of node1, where the batch script runs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Args: the LBs to test (default: envoy haproxy); `sweep` alone runs only the batch-job sweep.
LBS=${*:-envoy haproxy nginx}
[ "$LBS" = sweep ] && LBS=
NODES=4
trap '"$TESTBED/netns_cluster.sh" down || true; "$TESTBED/munge.sh" down || true' EXIT
"$TESTBED/munge.sh" up
t0=$SECONDS
"$TESTBED/netns_cluster.sh" up $NODES
# shellcheck disable=SC1091
. "$DEPLOY_WORK/slurm-multi/env.sh"
log "slurm-multi: $NODES-node namespace cluster up in $((SECONDS - t0)) s: $(nshost head sinfo -h -o '%D nodes %T' | tr '\n' ' ')"

lb_test() {
  local LB=$1 W=$DEPLOY_WORK/slurm-multi-$1
  mkdir -p "$W"
  local t0=$SECONDS
  # The allocation lives as long as serve_multi.sh (it waits in the foreground).
  nshost head env -C "$W" NODES=$NODES LB="$LB" ENVOY="$ENVOY" OPENENV_BENCH="$BIN" WORKERS=1 \
      MAX_CONCURRENT_ENVS=16384 OUT_DIR="$W/out" CONNECTION_FILE="$W/openenv-connection.env" \
      "$REPO/deploy/slurm/alloc.sh" "$REPO/deploy/slurm/serve_multi.sh" < /dev/null > "$W/alloc.log" 2>&1 &
  local apid=$!
  echo "$apid" > "$RUN_DIR/alloc-$LB.pid"
  for _ in $(seq 1 600); do
    grep -q 'pre-flight OK' "$W/alloc.log" 2>/dev/null && break
    alive "$apid" || break
    sleep 0.2
  done
  grep -q 'pre-flight OK' "$W/alloc.log" || { cat "$W/alloc.log" >&2; tail -n 30 "$W"/out/*.log >&2 2>/dev/null; die "slurm-multi/$LB: serve_multi.sh pre-flight did not pass"; }
  # shellcheck disable=SC1091
  . "$W/openenv-connection.env"
  log "slurm-multi/$LB: job $SLURM_JOB_ID up in $((SECONDS - t0)) s: $OPENENV_URL -> $OPENENV_SERVER_NODES; $(grep 'pre-flight OK' "$W/alloc.log" | sed 's/.*\] //')"
  local nserv; nserv=$(wc -w <<<"$OPENENV_SERVER_NODES")
  [ "$nserv" = $((NODES - 1)) ] || die "slurm-multi/$LB: $nserv servers, expected $((NODES - 1))"

  # 2,000 WS sessions through the LB, all successful, on every server
  run_cell "slurm-multi-$LB-2000" "$OPENENV_URL" 2000 1.0 "$nserv" nshost head
  local counts; counts=$(host_counts "$DEPLOY_WORK/cells/slurm-multi-$LB-2000")
  log "slurm-multi/$LB: sessions per server: $(tr '\n' ' ' <<<"$counts")"
  for n in $OPENENV_SERVER_NODES; do
    c=$(awk -v h="$n:" 'index($1, h)==1{print $2}' <<<"$counts")
    [ "${c:-0}" -ge $((2000 / nserv / 2)) ] || die "slurm-multi/$LB: server $n got ${c:-0} of 2000 sessions"
  done

  # what the pre-flight relies on: `scale --require-hosts` fails when fewer hosts answer
  local neg=$DEPLOY_WORK/cells/slurm-multi-$LB-require; mkdir -p "$neg"
  if nshost head "$BIN" scale -u "$OPENENV_URL" -m ws -n 30 -w 0.1 -t 30 --expected-hosts $((nserv + 1)) \
       --require-hosts -o "$neg" > "$neg/scale.log" 2>&1; then
    die "slurm-multi/$LB: scale --expected-hosts $((nserv + 1)) --require-hosts passed with $nserv servers"
  fi
  log "slurm-multi/$LB: --require-hosts fails as it must when a server is missing: $(grep -m1 '^error' "$neg/scale.log")"

  # cancel one server mid-way through a cell
  local victim=${OPENENV_SERVER_NODES##* } dir=$DEPLOY_WORK/cells/slurm-multi-$LB-cancel
  mkdir -p "$dir"
  nshost head "$BIN" scale -u "$OPENENV_URL" -m ws -n 900 -w 4.0 -t 60 -o "$dir" > "$dir/scale.log" 2>&1 &
  local spid=$!
  sleep 2
  local step; step=$(nshost head squeue -h -s -j "$SLURM_JOB_ID" -o '%i %j' | awk -v n="openenv-srv-$victim" '$2==n{print $1}')
  [ -n "$step" ] || die "slurm-multi/$LB: no job step for the server on $victim"
  nshost head scancel "$step"
  log "slurm-multi/$LB: cancelled step $step (server on $victim) mid-way through a 900-session cell"
  wait "$spid" || true
  summary_check "$dir" 0 >&2 || true
  # the LB must route around it: the next cell passes fully, on the remaining servers only
  run_cell "slurm-multi-$LB-after" "$OPENENV_URL" 2000 1.0 $((nserv - 1)) nshost head
  counts=$(host_counts "$DEPLOY_WORK/cells/slurm-multi-$LB-after")
  log "slurm-multi/$LB: after the cancel, sessions per server: $(tr '\n' ' ' <<<"$counts")"
  grep -q "^$victim:" <<<"$counts" && die "slurm-multi/$LB: the cancelled server $victim still got sessions"

  case " ${LINKDOWN_LBS-envoy} " in *" $LB "*) link_down "$LB" "${OPENENV_SERVER_NODES%% *}" "$victim" ;; esac

  nshost head scancel "$SLURM_JOB_ID"
  timeout 30 tail --pid="$apid" -f /dev/null || die "slurm-multi/$LB: allocation did not end after scancel"
  rm -f "$RUN_DIR/alloc-$LB.pid"
  log "slurm-multi/$LB: PASS (allocation $SLURM_JOB_ID ended)"
}

# link_down LB NODE CANCELLED: a network fault, not a dead process. Mid-cell, NODE's link goes
# down (ip link set eth0 down in its namespace: packets vanish, no RST, no FIN). Sessions held on
# NODE must end as Timeout within the deadline; every other session succeeds; sessions that start
# once the LB's health checks have noticed go to the remaining server only. The link comes back
# up afterwards (slurmd on NODE must reach slurmctld for the scancel).
link_down() {
  local LB=$1 node=$2 cancelled=$3 dir=$DEPLOY_WORK/cells/slurm-multi-$1-linkdown
  local n=600 wait=2.0 ramp=7 deadline=8 down_at=1 t0
  mkdir -p "$dir"
  t0=$SECONDS
  nshost head "$BIN" scale -u "$OPENENV_URL" -m ws -n $n -w $wait --ramp $ramp -t $deadline \
      --close-timeout 2 -o "$dir" > "$dir/scale.log" 2>&1 &
  local spid=$!
  sleep $down_at
  ip netns exec "oeb-$node" ip link set eth0 down
  log "slurm-multi/$LB: link of $node down ${down_at} s into a $n-session cell (ramp $ramp s, wait $wait s, deadline $deadline s)"
  wait "$spid" || true
  local took=$((SECONDS - t0))
  ip netns exec "oeb-$node" ip link set eth0 up
  summary_check "$dir" 0 >&2 || true
  local verdict
  verdict=$(python3 - "$dir" "$n" "$node" "$cancelled" "$down_at" <<'PY'
import collections, glob, json, os, sys
d, n, node, cancelled, down_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
recs = [json.loads(l) for f in glob.glob(os.path.join(d, "**", "raw.jsonl"), recursive=True) for l in open(f)]
ids = collections.Counter(r["request_id"] for r in recs)
fails = collections.Counter(r["error_type"] for r in recs if not r["success"])
ok = [r for r in recs if r["success"]]
hosts = collections.Counter(r["host_url"].split(":")[0] for r in ok)
# Health checks 1 s apart with a 1 s timeout, down after 2 misses (<= 4 s): started 4.5 s after
# the fault, a session must not be routed to the dead link.
late = [r for r in ok if r["start_offset"] + r["start_delay"] > down_at + 4.5]
late_bad = sum(1 for r in late if r["host_url"].startswith(node + ":"))
print(f"records={len(recs)} distinct={len(ids)} ok={len(ok)} failed={dict(fails)} ok_per_server={dict(hosts)} "
      f"late_ok={len(late)} late_on_{node}={late_bad}")
errs = []
if len(recs) != n or len(ids) != n or max(ids.values()) != 1:
    errs.append(f"{len(recs)} records for {len(ids)} sessions, expected exactly one for each of {n}")
if set(fails) - {"Timeout"}:
    errs.append(f"failures other than Timeout: {dict(fails)}")
if sum(fails.values()) == 0:
    errs.append(f"no session was lost: the fault did not hit a session in flight on {node}")
if sum(fails.values()) > n // 2:
    errs.append(f"{sum(fails.values())} of {n} lost: more than the share on {node}")
if hosts.get(cancelled):
    errs.append(f"the cancelled server {cancelled} got sessions")
if late_bad or not late:
    errs.append(f"{late_bad} of {len(late)} sessions started after the LB noticed went to {node}")
print("FAIL " + "; ".join(errs) if errs else "OK")
PY
) || true
  log "slurm-multi/$LB: link down: $(head -1 <<<"$verdict") in $took s"
  grep -qx OK <<<"$(tail -1 <<<"$verdict")" || die "slurm-multi/$LB: link down: $(tail -1 <<<"$verdict")"
  # deadline: the cell ends within ramp + wait + the per-operation deadline (+ close, start-up)
  [ "$took" -le $((ramp + 2 + deadline + 2 + 3)) ] || die "slurm-multi/$LB: link down: the cell took $took s, past its deadline"
}

for lb in $LBS; do lb_test "$lb"; done

# The standard sweep as a batch job (sbatch run_multinode_experiment.sh), LB=envoy, WS and HTTP.
# The batch script (and its load generator) runs on the first node, node1, next to the LB: it
# connects from node1's 16 client addresses (SOURCE_ADDRS). From one address
# the HTTP cells left ~13,500 ports to the one LB address in TIME_WAIT, which slowed the following
# connects (WS p50 17 s at N=8192, measured).
W=$DEPLOY_WORK/slurm-multi-sweep; mkdir -p "$W"
# shellcheck disable=SC2154  # OEB_CLIENT_ADDRS_node1 comes from env.sh (netns_cluster.sh)
JID=$(nshost head env -C "$W" OPENENV_ROOT="$REPO" LB=envoy ENVOY="$ENVOY" OPENENV_BENCH="$BIN" WORKERS=1 MAX_CONCURRENT_ENVS=16384 \
      REQUESTS_GRID="${MULTI_SWEEP_GRID:-1,16,256,1024,4096,8192}" WAIT_GRID="$SWEEP_WAIT" REPS="$SWEEP_REPS" COMPARE=1 SOURCE_ADDRS="$OEB_CLIENT_ADDRS_node1" \
      RESULTS_ROOT="$RESULTS" ANALYZE=0 sbatch --parsable -N $NODES "$REPO/deploy/slurm/run_multinode_experiment.sh")
log "slurm-multi: sweep job $JID (run_multinode_experiment.sh, $NODES nodes, LB=envoy)"
for _ in $(seq 1 3000); do nshost head squeue -h -j "$JID" 2>/dev/null | grep -q . || break; sleep 0.2; done
nshost head squeue -h -j "$JID" 2>/dev/null | grep -q . && { nshost head scancel "$JID"; die "slurm-multi: sweep job $JID still running after 10 min"; }
out=$W/openenv-multi-exp-$JID.out
grep -q 'run_multinode_experiment\] done' "$out" || { cat "$out" >&2; die "slurm-multi: run_multinode_experiment.sh did not finish"; }
dir=$(ls -d "$RESULTS"/slurm-multi/*/ | tail -1)
summary_check "$dir" 0.95 || true
grep -q '^http,' "$dir/summary.csv" || die "slurm-multi: the sweep has no HTTP cells"
mb=$(max_batch "$dir" 0.95); record slurm-multi max_batch "$mb"
log "slurm-multi: sweep through Envoy done: max batch at 95 % success: $mb"
