#!/bin/bash
#SBATCH --job-name=openenv-multi-exp
#SBATCH --nodes=3
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=openenv-multi-exp-%j.out
# The multi-node experiment as one batch job: deploy (serve_multi.sh: LB on the first node,
# servers on the others, pre-flight), then the standard sweep through the LB into
# experiments/results/slurm-multi/<date>/, then stop everything (the job ends).
#
#   sbatch deploy/slurm/run_multinode_experiment.sh               # from the repository root
#   sbatch -N 5 --export=ALL,LB=haproxy deploy/slurm/run_multinode_experiment.sh
#
# Environment (besides serve_multi.sh's LB, PORT, WORKERS, MAX_CONCURRENT_ENVS, ...):
#   REQUESTS_GRID (1,2,4,8,16,32,64,128,256,512)  WAIT_GRID (0.1,1.0,5.0)  REPS (3)
#   COMPARE (1: WS and HTTP)  TIMEOUT (120 s per cell)  HARDWARE (slurm-multi-<LB>)
#   RESULTS_ROOT (<submit dir>/experiments/results): results go to $RESULTS_ROOT/slurm-multi/<date>/
#   ANALYZE (1: run `openenv-bench analyze -i <that dir>` afterwards)
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

date_dir=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}/experiments/results}/slurm-multi/$date_dir
mkdir -p "$RESULTS"
args=(-u "$OPENENV_URL"
      --requests-grid "${REQUESTS_GRID:-1,2,4,8,16,32,64,128,256,512}"
      --wait-grid "${WAIT_GRID:-0.1,1.0,5.0}"
      --reps "${REPS:-3}"
      --expected-hosts "$OPENENV_EXPECTED_HOSTS"
      --hardware "${HARDWARE:-slurm-multi-$LB}"
      -t "${TIMEOUT:-120}"
      -o "$RESULTS")
[ "${COMPARE:-1}" = 1 ] && args+=(--compare)
echo "[run_multinode_experiment] sweep through $OPENENV_URL ($LB, servers: $OPENENV_SERVER_NODES) -> $RESULTS"
"$BIN" scale "${args[@]}"
cp "$OUT_DIR/openenv-connection.env" "$RESULTS/" 2>/dev/null || true
if [ "${ANALYZE:-1}" = 1 ]; then
  "$BIN" analyze -i "$RESULTS" || echo "[run_multinode_experiment] analyze failed (results are in $RESULTS)" >&2
fi
echo "[run_multinode_experiment] done: $RESULTS"
# Ending the job stops the LB and the servers (they are steps of this job).
