#!/usr/bin/env bash
# The LB table: the same cells (WS and HTTP, N = 1,024 4,096 8,192, wait 1 s, 1 step) through
# Envoy, HAProxy and nginx on the 4-node namespace cluster (LB on node1, servers on node2..node4,
# load from the head's 16 client addresses), with the LB's CPU per session and peak RSS sampled
# from its processes (/proc of every envoy/haproxy/nginx process on node1), next to the servers'
# and the client's CPU, the machine's softirq time (network work of the veth/bridge hops not
# charged to a process), what the whole machine was busy with (others: what is left, i.e. other
# users of the machine) and the listen-queue overflows of the LB and server nodes. Writes the table into
# docs/deploy.md (between the lb-table markers; LB_TABLE_DOC= to skip) and figures via `analyze`
# into $DEPLOY_WORK/lb-table/reports/. Not in run-all.sh's default set:
#   sudo deploy/tests/run-all.sh lb-table        # or: sudo deploy/tests/test_lb_table.sh [LB...]
# Environment: LB_TABLE_GRID (1024,4096,8192), LB_TABLE_MODES (ws http), LB_THREADS (2).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
LBS=${*:-envoy haproxy nginx}
GRID=${LB_TABLE_GRID:-1024,4096,8192}
MODES=${LB_TABLE_MODES:-ws http}
DOC=${LB_TABLE_DOC-$REPO/docs/deploy.md}
NODES=4
T=$DEPLOY_WORK/lb-table
R=$T/results
mkdir -p "$T" "$R"
trap '"$TESTBED/netns_cluster.sh" down || true; "$TESTBED/munge.sh" down || true' EXIT
"$TESTBED/munge.sh" up
"$TESTBED/netns_cluster.sh" up $NODES
# shellcheck disable=SC1091
. "$DEPLOY_WORK/slurm-multi/env.sh"
t_all=$SECONDS

lb_pids() { for p in $(ip netns pids oeb-node1); do case $(cat /proc/"$p"/comm 2>/dev/null) in envoy|haproxy|nginx) echo "$p" ;; esac; done; }
# CPU seconds (user + system, all threads) of the LB's processes.
lb_cpu() { local t=0 p; for p in $(lb_pids); do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0))); done; awk -v t=$t -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz}'; }
# CPU seconds of the benchmark servers (every openenv-bench process on the server nodes).
srv_cpu() { local t=0 k p; for k in $(seq 2 $NODES); do for p in $(ip netns pids "oeb-node$k"); do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = openenv-bench ] && t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0))); done; done; awk -v t=$t -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz}'; }
# CPU seconds the whole machine was busy (all cores, every process: other users' too).
machine_cpu() { awk -v hz="$(getconf CLK_TCK)" '$1=="cpu"{printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat; }
# CPU seconds of softirq (network receive work not charged to a process: veth/bridge hops).
softirq_cpu() { awk -v hz="$(getconf CLK_TCK)" '$1=="cpu"{printf "%.2f", $8 / hz}' /proc/stat; }
# Listen-queue overflows (SYNs or completed connects dropped because the accept backlog was full)
# on the LB node and the server nodes.
overflows() { local t=0 k; for k in $(seq 1 $NODES); do t=$((t + $(ip netns exec "oeb-node$k" awk '/^TcpExt:/{if(!h){for(i=1;i<=NF;i++)c[$i]=i;h=1}else{print $c["ListenOverflows"] + $c["ListenDrops"]}}' /proc/net/netstat))); done; echo $t; }
lb_rss_kib() { local t=0 p; for p in $(lb_pids); do t=$((t + $(awk '/^VmRSS/{print $2}' /proc/"$p"/status 2>/dev/null || echo 0))); done; echo $t; }

printf 'lb\tmode\tn\tcpu_s\trss_mib\tsrv_cpu_s\tmachine_cpu_s\twall_s\tsoftirq_s\toverflows\n' > "$T/lb-usage.tsv"
for LB in $LBS; do
  W=$T/$LB; mkdir -p "$W"
  t0=$SECONDS
  nshost head env -C "$W" NODES=$NODES LB="$LB" ENVOY="$ENVOY" OPENENV_BENCH="$BIN" WORKERS=1 \
      MAX_CONCURRENT_ENVS=16384 OUT_DIR="$W/out" CONNECTION_FILE="$W/openenv-connection.env" \
      "$REPO/deploy/slurm/alloc.sh" "$REPO/deploy/slurm/serve_multi.sh" < /dev/null > "$W/alloc.log" 2>&1 &
  apid=$!
  echo "$apid" > "$RUN_DIR/alloc-table-$LB.pid"
  for _ in $(seq 1 600); do grep -q 'pre-flight OK' "$W/alloc.log" 2>/dev/null && break; alive "$apid" || break; sleep 0.2; done
  grep -q 'pre-flight OK' "$W/alloc.log" || { cat "$W/alloc.log" >&2; die "lb-table/$LB: serve_multi.sh did not come up"; }
  # shellcheck disable=SC1091
  . "$W/openenv-connection.env"
  cp "$W/out/lb-$LB".* "$T/" 2>/dev/null || true
  log "lb-table/$LB: up in $((SECONDS - t0)) s ($(lb_pids | wc -l) LB processes, RSS $(( $(lb_rss_kib) / 1024 )) MiB idle)"
  out=$R/slurm-multi-$LB/$(date +%Y-%m-%d)
  mkdir -p "$out"
  for mode in $MODES; do
    for n in ${GRID//,/ }; do
      c0=$(lb_cpu); s0=$(srv_cpu); m0=$(machine_cpu); w0=$(date +%s.%N); q0=$(softirq_cpu); o0=$(overflows); peak=0
      nshost head "$BIN" scale -u "$OPENENV_URL" -m "$mode" -n "$n" -w 1.0 -t 60 --cooldown 2 \
          --expected-hosts "$OPENENV_EXPECTED_HOSTS" --source-addrs "$OEB_CLIENT_ADDRS" \
          --hardware "slurm-multi-$LB" -o "$out" >> "$W/scale.log" 2>&1 &
      spid=$!
      while alive "$spid"; do r=$(lb_rss_kib); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
      wait "$spid" || log "lb-table/$LB: $mode N=$n: scale exited non-zero (kept: the table shows its success rate)"
      c1=$(lb_cpu); s1=$(srv_cpu); m1=$(machine_cpu); w1=$(date +%s.%N); q1=$(softirq_cpu); o1=$(overflows)
      d() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b - a}'; }
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$LB" "$mode" "$n" "$(d "$c0" "$c1")" "$((peak / 1024))" \
        "$(d "$s0" "$s1")" "$(d "$m0" "$m1")" "$(d "$w0" "$w1")" "$(d "$q0" "$q1")" "$((o1 - o0))" >> "$T/lb-usage.tsv"
      log "lb-table/$LB: $(grep -E "^\[[0-9/]+\] $mode N=$n " "$W/scale.log" | tail -1 | cut -c1-160)"
      sleep 2
    done
  done
  nshost head scancel "$SLURM_JOB_ID"
  timeout 30 tail --pid="$apid" -f /dev/null || die "lb-table/$LB: allocation did not end after scancel"
  rm -f "$RUN_DIR/alloc-table-$LB.pid"
done

# The table (Markdown), from the summaries and the sampled LB usage.
python3 - "$R" "$T/lb-usage.tsv" "$T" > "$T/lb-table.md" <<'PY'
import csv, glob, os, sys
res, usage, t = sys.argv[1], sys.argv[2], sys.argv[3]
use = {(r["lb"], r["mode"], r["n"]): r for r in csv.DictReader(open(usage), delimiter="\t")}
rows = {}
for f in glob.glob(os.path.join(res, "slurm-multi-*", "*", "summary.csv")):
    lb = f.split(os.sep)[-3].removeprefix("slurm-multi-")
    for r in csv.DictReader(open(f)):
        rows[(lb, r["mode"], r["num_requests"] or r["batch_size"])] = r
order = {"envoy": 0, "haproxy": 1, "nginx": 2}
print("| LB | mode | N | success | connect p99 (s) | total p50 (s) | total p99 (s) | LB CPU (s) | LB CPU / session (µs) | LB peak RSS (MiB) "
      "| servers CPU (s) | client CPU (s) | softirq (s) | machine busy (s of 2 cores × wall) | others (s) | listen overflows |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in sorted(rows, key=lambda k: (order.get(k[0], 9), k[1] != "ws", int(k[2]))):
    r, u = rows[k], use.get(k, {})
    n = int(k[2]); ok = int(r["successful"])
    cpu = float(u.get("cpu_s", "nan"))
    print(f"| {k[0]} | {k[1]} | {n:,} | {ok / n:.1%} | {float(r['connect_p99']):.2f} | {float(r['total_p50']):.2f} | "
          f"{float(r['total_p99']):.2f} | {cpu:.2f} | {cpu / n * 1e6:.0f} | {u.get('rss_mib', '?')} ", end="")
    srv, mach, wall, sirq = (float(u.get(x, "nan")) for x in ("srv_cpu_s", "machine_cpu_s", "wall_s", "softirq_s"))
    cli = float(r["loadgen_cpu_seconds"] or "nan")
    print(f"| {srv:.2f} | {cli:.2f} | {sirq:.2f} | {mach:.1f} of {2 * wall:.1f} | {mach - cpu - srv - cli - sirq:.1f} | {u.get('overflows', '?')} |")
PY
cat "$T/lb-table.md"
"$BIN" analyze --all --results-dir "$R" -o "$T/reports/figures/" --no-log > "$T/analyze.log" 2>&1 \
  || { cat "$T/analyze.log" >&2; die "lb-table: analyze failed"; }
log "lb-table: figures in $T/reports/figures/ ($(ls "$T/reports/figures" | wc -l) files)"
if [ -n "$DOC" ] && grep -q '<!-- lb-table:begin -->' "$DOC"; then
  python3 - "$DOC" "$T/lb-table.md" <<'PY'
import sys
doc, table = sys.argv[1], open(sys.argv[2]).read()
s = open(doc).read()
a, b = s.index("<!-- lb-table:begin -->"), s.index("<!-- lb-table:end -->")
s = s[:a] + "<!-- lb-table:begin -->\n" + table + s[b:]
open(doc + ".tmp", "w").write(s)
import os; os.replace(doc + ".tmp", doc)
PY
  log "lb-table: table written into $DOC"
fi
log "lb-table: PASS ($(echo "$LBS" | wc -w) LBs in $((SECONDS - t_all)) s)"
