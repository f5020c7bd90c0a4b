#!/bin/bash
# Allocate nodes for a multi-node deployment and run a command inside the allocation.
#
#   deploy/slurm/alloc.sh                                  # 3 nodes, an interactive shell
#   deploy/slurm/alloc.sh deploy/slurm/serve_multi.sh      # LB on node 1, servers on the others
#   NODES=5 TIME=02:00:00 PARTITION=cpu deploy/slurm/alloc.sh deploy/slurm/serve_multi.sh
#
# Environment: NODES (3: one load balancer + NODES-1 servers), TIME (04:00:00), PARTITION,
# ACCOUNT, JOB_NAME (openenv-multi). Nodes are allocated --exclusive, one task each.
# The allocation ends when the command exits (or with scancel).
set -euo pipefail
NODES=${NODES:-3}
[ "$NODES" -ge 2 ] || { echo "error: NODES must be >= 2 (one LB + at least one server)" >&2; exit 2; }
args=(--nodes="$NODES" --ntasks-per-node=1 --exclusive --time="${TIME:-04:00:00}" --job-name="${JOB_NAME:-openenv-multi}")
[ -n "${PARTITION:-}" ] && args+=(--partition="$PARTITION")
[ -n "${ACCOUNT:-}" ] && args+=(--account="$ACCOUNT")
exec salloc "${args[@]}" "$@"
