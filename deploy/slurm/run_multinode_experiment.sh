#!/bin/bash
#SBATCH --job-name=openenv-multi-exp
#SBATCH --nodes=3
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=openenv-multi-exp-%j.out
# The multi-node experiment as one batch job: deploy (serve_multi.sh: LB on the first node,
# servers on the others, pre-flight), then `openenv-bench experiment --grid slurm-multi` through
# the LB into experiments/results/slurm-multi/<date>[_HHMMSS]/ (run.json records the infra and the
# server nodes' cores), then stop everything (the job ends).
#
#   sbatch deploy/slurm/run_multinode_experiment.sh               # from the repository root
#   sbatch -N 5 --export=ALL,LB=haproxy deploy/slurm/run_multinode_experiment.sh
#
# Environment (besides serve_multi.sh's LB, PORT, WORKERS, MAX_CONCURRENT_ENVS, ...):
#   REQUESTS_GRID WAIT_GRID REPS TIMEOUT   override the slurm-multi preset (1..512 x wait 1.0 x 3, 120 s)
#   COMPARE (1: WS and HTTP; 0: WS only)  HARDWARE (slurm-multi-<LB>)
#   SOURCE_ADDRS  comma-separated addresses to connect from, of the node this script runs on (the
#                 allocation's first node, next to the LB)
#                 (`--source-addrs`; each brings ~28k ports to the LB: HTTP cells leave theirs in
#                 TIME_WAIT, so N=8192 over HTTP and WS after it needs several)
#   SERVER_CORES (default: the server nodes' cores, summed; for batch per core)
#   RESULTS_ROOT (<submit dir>/experiments/results): results go to $RESULTS_ROOT/slurm-multi/<date>/
#   ANALYZE (1: tables, figures and a log entry afterwards, as `experiment` does)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/../../Cargo.toml" ]; then ROOT=$(cd "$here/../.." && pwd); else ROOT=${OPENENV_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}; fi
export OPENENV_ROOT=$ROOT
BIN=${OPENENV_BENCH:-$ROOT/target/release/openenv-bench}
[ -x "$BIN" ] || BIN=$(command -v openenv-bench) || { echo "error: openenv-bench not found (set OPENENV_BENCH)" >&2; exit 1; }
export OPENENV_BENCH=$BIN
[ -n "${SLURM_JOB_ID:-}" ] || { echo "error: submit with sbatch (or run inside deploy/slurm/alloc.sh)" >&2; exit 2; }
export LB=${LB:-envoy}
export OUT_DIR=${OUT_DIR:-$PWD/openenv-multi-$SLURM_JOB_ID}
export CONNECTION_FILE=${CONNECTION_FILE:-$OUT_DIR/openenv-connection.env}
mkdir -p "$OUT_DIR"

SERVE_MULTI_DETACH=1 "$ROOT/deploy/slurm/serve_multi.sh"
# shellcheck disable=SC1090
. "$CONNECTION_FILE"

RESULTS_ROOT=${RESULTS_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}/experiments/results}
if [ -z "${SERVER_CORES:-}" ]; then
  SERVER_CORES=0
  for n in $OPENENV_SERVER_NODES; do
    c=$(srun --overlap --nodes=1 --ntasks=1 --nodelist="$n" nproc) || c=0
    SERVER_CORES=$((SERVER_CORES + c))
  done
fi
args=(--grid slurm-multi -u "$OPENENV_URL" --infra slurm-multi
      --results-dir "$RESULTS_ROOT"
      --expected-hosts "$OPENENV_EXPECTED_HOSTS"
      --hardware "${HARDWARE:-slurm-multi-$LB}")
[ -n "${REQUESTS_GRID:-}" ] && args+=(--requests-grid "$REQUESTS_GRID")
[ -n "${WAIT_GRID:-}" ] && args+=(--wait-grid "$WAIT_GRID")
[ -n "${REPS:-}" ] && args+=(--reps "$REPS")
[ -n "${TIMEOUT:-}" ] && args+=(-t "$TIMEOUT")
[ "$SERVER_CORES" -gt 0 ] && args+=(--cores "$SERVER_CORES")
[ "${COMPARE:-1}" = 1 ] || args+=(--modes ws)
[ -n "${SOURCE_ADDRS:-}" ] && args+=(--source-addrs "$SOURCE_ADDRS")
[ "${ANALYZE:-1}" = 1 ] || args+=(--no-analyze)
echo "[run_multinode_experiment] experiment through $OPENENV_URL ($LB, servers: $OPENENV_SERVER_NODES, $SERVER_CORES cores) -> $RESULTS_ROOT/slurm-multi/"
rc=0
"$BIN" experiment "${args[@]}" || rc=$?
# The run's directory: the newest of the layout (names sort by time).
RESULTS=$(ls -d "$RESULTS_ROOT"/slurm-multi/*/ 2>/dev/null | sort | tail -1)
RESULTS=${RESULTS%/}
[ -n "$RESULTS" ] && [ -f "$RESULTS/summary.csv" ] || { echo "[run_multinode_experiment] error: no results (experiment exit $rc)" >&2; exit 1; }
[ "$rc" = 0 ] || echo "[run_multinode_experiment] experiment exited $rc (results are in $RESULTS)" >&2
cp "$OUT_DIR/openenv-connection.env" "$RESULTS/" 2>/dev/null || true
echo "[run_multinode_experiment] done: $RESULTS"
# Ending the job stops the LB and the servers (they are steps of this job).
