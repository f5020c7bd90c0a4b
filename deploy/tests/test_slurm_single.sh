#!/usr/bin/env bash
# SLURM single node: a real slurmctld + slurmd on this host, `sbatch deploy/slurm/serve_single.sh`,
# the node's URL from the job output, a scale cell and the sweep against it, and scancel stops it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PORT=${SLURM_SINGLE_PORT:-$(free_port 18141)}
export SLURM_CONF=$DEPLOY_WORK/slurm-single/slurm.conf
trap '"$TESTBED/slurm_single.sh" down || true; "$TESTBED/munge.sh" down || true' EXIT
"$TESTBED/munge.sh" up
t0=$SECONDS
"$TESTBED/slurm_single.sh" up
log "slurm-single: slurmctld + slurmd up in $((SECONDS - t0)) s: $(sinfo -h -o '%N %T %c CPUs')"

J=$DEPLOY_WORK/slurm-single-job; mkdir -p "$J"
# HOST=127.0.0.1: the node's URL then names loopback (the tests only talk to 127.0.0.0/8).
JID=$(cd "$J" && PORT=$PORT HOST=127.0.0.1 MAX_CONCURRENT_ENVS=16384 OPENENV_BENCH=$BIN \
      sbatch --parsable --cpus-per-task=2 "$REPO/deploy/slurm/serve_single.sh")
OUT=$J/openenv-serve-$JID.out
for _ in $(seq 1 300); do grep -q '^OPENENV_URL=' "$OUT" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^OPENENV_URL=//p' "$OUT" 2>/dev/null)
[ -n "$URL" ] || { squeue; cat "$OUT" 2>/dev/null; die "slurm-single: job $JID printed no OPENENV_URL"; }
wait_http "$URL/health" 30 || { cat "$OUT"; die "slurm-single: no /health at $URL"; }
grep -q 'WORKERS=2 ' "$OUT" || die "slurm-single: WORKERS not taken from SLURM_CPUS_PER_TASK=2: $(head -1 "$OUT")"
state=$(squeue -h -j "$JID" -o %T)
[ "$state" = RUNNING ] || die "slurm-single: job state $state"
log "slurm-single: job $JID RUNNING, $URL healthy ($(head -1 "$OUT"))"

run_cell slurm-single-cell "$URL" 1000 1.0 1
run_sweep slurm-single "$URL"

scancel "$JID"
wait_gone "$URL/health" 15 || die "slurm-single: server still answers after scancel"
for _ in $(seq 1 50); do squeue -h -j "$JID" 2>/dev/null | grep -q . || break; sleep 0.1; done
squeue -h -j "$JID" 2>/dev/null | grep -q . && die "slurm-single: job $JID still in the queue after scancel"
log "slurm-single: scancel stopped job $JID ($(sacct -n -j "$JID" -o State 2>/dev/null | head -1 | tr -s ' ' || echo cancelled))"
