#!/usr/bin/env bash
# Local deployment: deploy/local/run_server.sh starts, answers /health, a scale cell passes, the
# sweep runs, and SIGTERM stops the server (and its worker processes) promptly.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PORT=${LOCAL_PORT:-$(free_port 18101)}
URL=http://127.0.0.1:$PORT
PIDF=$RUN_DIR/local-server.pid
trap 'stop_pidfiles "$PIDF" || true' EXIT
curl -s -m 1 -o /dev/null "$URL/health" && die "port $PORT already in use"

PORT=$PORT HOST=127.0.0.1 WORKERS=2 MAX_CONCURRENT_ENVS=16384 OPENENV_BENCH=$BIN \
  "$REPO/deploy/local/run_server.sh" > "$DEPLOY_WORK/local-server.log" 2>&1 &
pid=$!; echo "$pid" > "$PIDF"
wait_http "$URL/health" 30 || { cat "$DEPLOY_WORK/local-server.log" >&2; die "local: no /health on $URL"; }
body=$(curl -s "$URL/health"); [[ $body == *'"healthy"'* ]] || die "local: /health said $body"
log "local: $URL/health -> $body (pid $pid)"

run_cell local-cell "$URL" 1000 1.0 1
run_sweep local "$URL"

# SIGTERM to the script's process (run_server.sh execs the server): everything must go away.
kids=$(ps -o pid= --ppid "$pid" | tr '\n' ' ')
t0=$(date +%s.%N)
kill -TERM "$pid"
rc=0; timeout 15 tail --pid="$pid" -f /dev/null || die "local: server still running 15 s after SIGTERM"
wait "$pid" || rc=$?
for k in $kids; do alive "$k" && die "local: worker $k still running after SIGTERM"; done
wait_gone "$URL/health" 5 || die "local: $URL still answers after SIGTERM"
rm -f "$PIDF"
log "local: SIGTERM stopped the server (and workers: ${kids:-none}) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}') s, exit code $rc"
[ "$rc" = 0 ] || [ "$rc" = 143 ] || die "local: server exited with $rc after SIGTERM"
