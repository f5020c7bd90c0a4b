#!/bin/bash
#SBATCH --job-name=openenv-serve
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=openenv-serve-%j.out
# Serve the OpenEnv benchmark environment on one SLURM node.
#
#   sbatch deploy/slurm/serve_single.sh                 # from the repository root
#   sbatch --cpus-per-task=48 -p cpu deploy/slurm/serve_single.sh
#   grep OPENENV_URL openenv-serve-<jobid>.out          # the node's URL, then run `scale` against it
#   scancel <jobid>                                     # stops the server
#
# WORKERS defaults to SLURM_CPUS_PER_TASK (one worker process per allocated CPU); PORT (8000),
# HOST (0.0.0.0), MAX_CONCURRENT_ENVS as for deploy/local/run_server.sh. OPENENV_BENCH: the
# binary (default: target/release/openenv-bench under the submit dir, else openenv-bench in PATH).
# The server is exec'd in the foreground, so scancel's SIGTERM reaches it directly (a daemonized
# server would escape SLURM's process tracking).
set -euo pipefail
ROOT=${OPENENV_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
BIN=${OPENENV_BENCH:-$ROOT/target/release/openenv-bench}
[ -x "$BIN" ] || BIN=$(command -v openenv-bench) || { echo "error: openenv-bench not found (set OPENENV_BENCH)" >&2; exit 1; }
export PORT=${PORT:-8000}
export HOST=${HOST:-0.0.0.0}
export WORKERS=${WORKERS:-${SLURM_CPUS_PER_TASK:-1}}
[ -n "${MAX_CONCURRENT_ENVS:-}" ] && export MAX_CONCURRENT_ENVS
# The address clients use: the node's name when listening on all interfaces.
if [ "$HOST" = 0.0.0.0 ] || [ "$HOST" = "::" ]; then url_host=$(hostname -f 2>/dev/null || hostname); else url_host=$HOST; fi
URL="http://$url_host:$PORT"
echo "job ${SLURM_JOB_ID:-?} on $(hostname): WORKERS=$WORKERS MAX_CONCURRENT_ENVS=${MAX_CONCURRENT_ENVS:-default}"
echo "OPENENV_URL=$URL"
# Also as a file next to the job output, for scripts: source it, then scale -u "$OPENENV_URL".
conn=${CONNECTION_FILE:-${SLURM_SUBMIT_DIR:-$PWD}/openenv-connection-${SLURM_JOB_ID:-local}.env}
printf 'OPENENV_URL=%s\nOPENENV_NODE=%s\nSLURM_JOB_ID=%s\n' "$URL" "$(hostname)" "${SLURM_JOB_ID:-}" > "$conn" || true
echo "then: openenv-bench scale -u $URL --requests-grid 1,2,4,8,16,32,64,128,256 --wait-grid 0.1,1.0,5.0 --reps 3 --compare"
exec "$BIN" serve
