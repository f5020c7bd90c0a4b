#!/bin/bash
#SBATCH --job-name=openenv-dist
#SBATCH --nodes=5
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=openenv-dist-%j.out
# Load from several nodes, as one batch job: servers behind a load balancer on the first nodes of
# the allocation (serve_multi.sh: LB on the first node, a server on each of the next ones,
# pre-flight), load-generator workers on the last CLIENT_NODES nodes (`scale --slurm-nodes`: one
# srun job step per worker, one intended start for all of them), results written as
# infrastructure `slurm-distributed`: $RESULTS_ROOT/slurm-distributed/<date>[_HHMMSS]/.
#
#   sbatch deploy/slurm/run_distributed_scale.sh                   # 5 nodes: LB, 2 servers, 2 load generators
#   sbatch -N 8 --export=ALL,CLIENT_NODES=3,LB=haproxy deploy/slurm/run_distributed_scale.sh
#   deploy/slurm/alloc.sh deploy/slurm/run_distributed_scale.sh     # inside an allocation works too
#
# Environment (besides serve_multi.sh's LB, PORT, WORKERS, MAX_CONCURRENT_ENVS, LB_THREADS, ...):
#   CLIENT_NODES   load-generator nodes, the last ones of the allocation (2); the others serve
#   REQUESTS_GRID  N per cell (1024,4096,16384)   WAIT_GRID (1.0)   REPS (1)   TIMEOUT (120)
#   MODES          ws (default) | http | compare (HTTP, then WS)
#   SESSIONS_PER_PROCESS  most sessions per worker process (scale's default: the open-files limit - 1000)
#   HARDWARE       label of every record (slurm-distributed-<LB>)
#   RESULTS_ROOT   (<submit dir>/experiments/results)   OUT_DIR (./openenv-dist-<jobid>: logs, LB config)
#   SCALE_ARGS     further `scale` flags, split on spaces
# The binary must be at the same path on every node (shared file system): OPENENV_BENCH, else
# target/release/openenv-bench of the repository, else openenv-bench in PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/../../Cargo.toml" ]; then ROOT=$(cd "$here/../.." && pwd); else ROOT=${OPENENV_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}; fi
export OPENENV_ROOT=$ROOT
BIN=${OPENENV_BENCH:-$ROOT/target/release/openenv-bench}
[ -x "$BIN" ] || BIN=$(command -v openenv-bench) || { echo "error: openenv-bench not found (set OPENENV_BENCH)" >&2; exit 1; }
export OPENENV_BENCH=$BIN
[ -n "${SLURM_JOB_ID:-}" ] || { echo "error: not inside a SLURM allocation: submit with sbatch (or run inside deploy/slurm/alloc.sh)" >&2; exit 2; }
export LB=${LB:-envoy}
CLIENT_NODES=${CLIENT_NODES:-2}
export OUT_DIR=${OUT_DIR:-$PWD/openenv-dist-$SLURM_JOB_ID}
export CONNECTION_FILE=${CONNECTION_FILE:-$OUT_DIR/openenv-connection.env}
mkdir -p "$OUT_DIR"
say() { echo "[run_distributed_scale $(date +%H:%M:%S)] $*"; }

mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
nserve=$(( ${#nodes[@]} - CLIENT_NODES ))
[ "$CLIENT_NODES" -ge 1 ] && [ "$nserve" -ge 2 ] || {
  echo "error: ${#nodes[@]} nodes: need one LB node, at least one server node and CLIENT_NODES=$CLIENT_NODES load-generator nodes" >&2; exit 2; }
serve=("${nodes[@]:0:nserve}")
clients=("${nodes[@]:nserve}")
say "job $SLURM_JOB_ID: LB + servers on ${serve[*]}, load generators on ${clients[*]}"

# The deployment is serve_multi.sh's, on the serving nodes only.
SERVE_NODES=$(IFS=,; echo "${serve[*]}") SERVE_MULTI_DETACH=1 "$ROOT/deploy/slurm/serve_multi.sh"
# shellcheck disable=SC1090
. "$CONNECTION_FILE"

# Results as infrastructure slurm-distributed: <date>/, or <date>_<HHMMSS>/ for a further run that day.
RESULTS_ROOT=${RESULTS_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}/experiments/results}
RESULTS=$RESULTS_ROOT/slurm-distributed/$(date -u +%F)
[ -e "$RESULTS" ] && RESULTS=${RESULTS}_$(date -u +%H%M%S)
mkdir -p "$RESULTS"

args=(-u "$OPENENV_URL" --slurm-nodes "$(IFS=,; echo "${clients[*]}")"
      --expected-hosts "$OPENENV_EXPECTED_HOSTS" --require-hosts
      --requests-grid "${REQUESTS_GRID:-1024,4096,16384}" --wait-grid "${WAIT_GRID:-1.0}"
      --reps "${REPS:-1}" -t "${TIMEOUT:-120}" --hardware "${HARDWARE:-slurm-distributed-$LB}" -o "$RESULTS")
case ${MODES:-ws} in
  ws|http) args+=(-m "${MODES:-ws}") ;;
  compare) args+=(--compare) ;;
  *) echo "error: MODES must be ws, http or compare (got '$MODES')" >&2; exit 2 ;;
esac
[ -n "${SESSIONS_PER_PROCESS:-}" ] && args+=(--sessions-per-process "$SESSIONS_PER_PROCESS")
# shellcheck disable=SC2206
[ -n "${SCALE_ARGS:-}" ] && args+=($SCALE_ARGS)
say "scale through $OPENENV_URL ($LB, servers: $OPENENV_SERVER_NODES) from ${clients[*]} -> $RESULTS"
rc=0
"$BIN" scale "${args[@]}" || rc=$?
cp "$CONNECTION_FILE" "$RESULTS/" 2>/dev/null || true
[ -s "$RESULTS/summary.csv" ] || { say "error: no results (scale exit $rc)" >&2; exit 1; }
[ "$rc" = 0 ] || { say "scale exited $rc (results are in $RESULTS)" >&2; exit "$rc"; }
say "done: $RESULTS"
# Ending the job stops the LB and the servers (they are steps of this job).
