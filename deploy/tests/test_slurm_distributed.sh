#!/usr/bin/env bash
# SLURM, load from several nodes: a 5-node cluster of network namespaces (head + node1..node5).
# One allocation (alloc.sh) runs:
#   run_distributed_scale.sh: LB on node1, servers on node2..node3 (serve_multi.sh), `scale
#   --slurm-nodes node4,node5`: a cell of DIST_N (2,000) WS sessions from srun workers on both
#   client nodes, through the LB onto both servers; --require-hosts must pass, every record has a
#   client_host (node4 or node5, both present), run.json lists both hosts;
#   then the same cell with the worker step on node5 killed (SIGKILL) mid-cell: every session
#   still has exactly one record, node5's share is WorkerLost, node4's succeeds.
# Prints the distributed cell's numbers per client node.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NODES=5
LB=${DIST_LB:-haproxy}
N=${DIST_N:-2000}
trap '"$TESTBED/netns_cluster.sh" down || true; "$TESTBED/munge.sh" down || true' EXIT
"$TESTBED/munge.sh" up
t0=$SECONDS
"$TESTBED/netns_cluster.sh" up $NODES
# shellcheck disable=SC1091
. "$DEPLOY_WORK/slurm-multi/env.sh"
log "slurm-distributed: $NODES-node namespace cluster up in $((SECONDS - t0)) s"

W=$DEPLOY_WORK/slurm-distributed
mkdir -p "$W"
# What runs inside the allocation (on head, the submit host): the batch script as a user runs it,
# then the kill cell against the deployment it left running.
cat > "$W/inside.sh" <<EOS
#!/usr/bin/env bash
set -uo pipefail
REQUESTS_GRID=$N WAIT_GRID=1.0 TIMEOUT=60 CLIENT_NODES=2 RESULTS_ROOT="$RESULTS" \\
  "$REPO/deploy/slurm/run_distributed_scale.sh" || { echo "INSIDE: run_distributed_scale.sh failed (\$?)"; exit 1; }
. "$W/out/openenv-connection.env"
# The same cell, 5 s sessions; the worker step on node5 is killed 2.5 s in.
"$BIN" scale -u "\$OPENENV_URL" --slurm-nodes node4,node5 -m ws -n $N -w 5 -t 60 \\
  --expected-hosts "\$OPENENV_EXPECTED_HOSTS" -o "$W/kill" > "$W/kill.log" 2>&1 &
spid=\$!
step=
for _ in \$(seq 1 150); do
  step=\$(squeue -h -s -j "\$SLURM_JOB_ID" -o '%i %j %N' | awk '\$2 ~ /^openenv-lg-/ && \$3 == "node5" {print \$1; exit}')
  [ -n "\$step" ] && break
  sleep 0.1
done
[ -n "\$step" ] || { echo "INSIDE: no worker step on node5"; kill "\$spid"; wait "\$spid"; exit 1; }
sleep 2.5
date +%s.%N > "$W/killed-at"
scancel --signal=KILL "\$step" && echo "INSIDE: killed worker step \$step on node5"
wait "\$spid"; echo "INSIDE: kill cell: scale exited \$?"
echo "INSIDE: done"
EOS
chmod +x "$W/inside.sh"
t0=$SECONDS
nshost head env -C "$W" NODES=$NODES LB="$LB" ENVOY="$ENVOY" OPENENV_BENCH="$BIN" WORKERS=1 \
    MAX_CONCURRENT_ENVS=16384 OUT_DIR="$W/out" CONNECTION_FILE="$W/out/openenv-connection.env" \
    "$REPO/deploy/slurm/alloc.sh" "$W/inside.sh" < /dev/null > "$W/alloc.log" 2>&1 &
apid=$!
echo "$apid" > "$RUN_DIR/alloc-distributed.pid"
timeout 240 tail --pid="$apid" -f /dev/null || { cat "$W/alloc.log" >&2; die "slurm-distributed: allocation still running after 240 s"; }
rm -f "$RUN_DIR/alloc-distributed.pid"
grep -q 'INSIDE: done' "$W/alloc.log" || { cat "$W/alloc.log" >&2; tail -n 20 "$W"/out/*.log >&2 2>/dev/null; die "slurm-distributed: the allocation's script failed"; }
log "slurm-distributed: allocation done in $((SECONDS - t0)) s"

# 1) the distributed cell
dir=$(ls -d "$RESULTS"/slurm-distributed/*/ | tail -1)
summary_check "$dir" 1.0 2 >&2 || die "slurm-distributed: cell below 100 % or on fewer than 2 servers"
counts=$(host_counts "$dir")
log "slurm-distributed: sessions per server: $(tr '\n' ' ' <<<"$counts")"
[ "$(wc -l <<<"$counts")" -ge 2 ] || die "slurm-distributed: sessions reached fewer than 2 servers"
python3 - "$dir" "$N" <<'PY' >&2 || die "slurm-distributed: client hosts wrong (see above)"
import collections, json, sys
d, n = sys.argv[1], int(sys.argv[2])
recs = [json.loads(l) for l in open(f"{d}/raw.jsonl")]
assert len(recs) == n, f"{len(recs)} records, {n} expected"
by = collections.defaultdict(list)
for r in recs:
    assert r.get("client_host"), f"record without client_host: {r['request_id']}"
    by[r["client_host"]].append(r)
assert set(by) == {"node4", "node5"}, f"client hosts {sorted(by)}"
assert all(r["worker"] >= 1 for r in recs), "a session ran in the coordinating process"
hosts = {h["host"]: h for h in json.load(open(f"{d}/run.json"))["loadgen_hosts"]}
assert set(hosts) == {"node4", "node5"}, f"run.json loadgen_hosts {sorted(hosts)}"
def p99(v):
    v = sorted(v); k = (len(v) - 1) * 0.99; f = int(k)
    return v[f] + (v[min(f + 1, len(v) - 1)] - v[f]) * (k - f) if v else float("nan")
for h in sorted(by):
    rs, info = by[h], hosts[h]
    ok = [r["total_latency"] for r in rs if r["success"]]
    print(f"  client {h}: sessions {len(rs)}, success {len(ok) / len(rs):.1%}, total p99 {p99(ok):.3f} s, "
          f"CPU {info['cpu_seconds']:.2f} s (busiest second {info['busiest_cpu_fraction']:.0%}), "
          f"peak RSS {info['peak_rss_bytes'] / 2**20:.0f} MiB, clock offset {info['clock_offset_seconds'] * 1e3:+.3f} ms "
          f"(rtt {info['clock_rtt_seconds'] * 1e3:.2f} ms), start delay max {max(r['start_delay'] for r in rs):.3f} s")
PY
record slurm-distributed cell "$N"

# 2) the kill cell
k=$W/kill
grep 'INSIDE' "$W/alloc.log" >&2
python3 - "$k" "$N" "$(cat "$W/killed-at")" <<'PY' >&2 || { tail -n 20 "$W/kill.log" >&2; die "slurm-distributed: kill cell wrong (see above)"; }
import collections, datetime, json, sys
d, n, killed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
recs = [json.loads(l) for l in open(f"{d}/raw.jsonl")]
ids = [r["request_id"] for r in recs]
assert sorted(ids) == list(range(n)), f"{len(ids)} records, {len(set(ids))} distinct ids, {n} sessions"
c = collections.Counter((r["client_host"], r["error_type"] or "ok") for r in recs)
print("  kill cell records:", ", ".join(f"{h} {t}: {k}" for (h, t), k in sorted(c.items())))
assert c[("node5", "WorkerLost")] > 0, "node5's share not classified WorkerLost"
assert all(t == "ok" for (h, t) in c if h == "node4"), "node4's sessions failed"
assert all(t == "WorkerLost" for (h, t) in c if h == "node5"), "node5's share has other classes"
# Mid-cell: after node4's sessions started, before the first of them ended.
ts = lambda r: datetime.datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
ok = [r for r in recs if r["success"]]
first_start, first_end = min(ts(r) for r in ok), min(ts(r) + r["total_latency"] for r in ok)
print(f"  killed {killed - first_start:.2f} s after the cell's first session started (first end at {first_end - first_start:.2f} s)")
assert first_start < killed < first_end, "the worker was not killed mid-cell"
PY
log "slurm-distributed: PASS (kill cell: $(grep -c '"WorkerLost"' "$k/raw.jsonl") WorkerLost of $N, each session one record)"
