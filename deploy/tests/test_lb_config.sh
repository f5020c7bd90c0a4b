#!/usr/bin/env bash
# `openenv-bench lb-config`: the real Envoy, HAProxy and nginx accept what it generates
# (envoy --mode validate, haproxy -c, nginx -t), and a live nginx in front of three local servers
# spreads WS sessions over all three, then routes around one that is killed (Envoy and HAProxy
# are exercised live by test_slurm_multi.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
D=$DEPLOY_WORK/lb-configs; mkdir -p "$D/state"
LBP=$(free_port 18161); AP=$(free_port $((LBP + 1)))
S1=$(free_port $((AP + 1))); S2=$(free_port $((S1 + 1))); S3=$(free_port $((S2 + 1)))
B=127.0.0.1:$S1,127.0.0.1:$S2,127.0.0.1:$S3
"$BIN" lb-config envoy --backend "$B" --listen "$LBP" --admin-port "$AP" -o "$D/envoy.json" 2>/dev/null
"$BIN" lb-config haproxy --backend "$B" --listen "$LBP" --admin-port "$AP" -o "$D/haproxy.cfg" 2>/dev/null
"$BIN" lb-config nginx --backend "$B" --listen "$LBP" --listen-addr 127.0.0.1 --workers 2 --state-dir "$D/state" -o "$D/nginx.conf" 2>/dev/null
"$ENVOY" --mode validate -c "$D/envoy.json" --disable-hot-restart > "$D/envoy-validate.log" 2>&1 \
  || { cat "$D/envoy-validate.log" >&2; die "envoy rejects the generated config"; }
haproxy -c -f "$D/haproxy.cfg" > "$D/haproxy-check.log" 2>&1 || { cat "$D/haproxy-check.log" >&2; die "haproxy rejects the generated config"; }
nginx -t -c "$D/nginx.conf" > "$D/nginx-check.log" 2>&1 || { cat "$D/nginx-check.log" >&2; die "nginx rejects the generated config"; }
log "lb-config: envoy --mode validate, haproxy -c, nginx -t accept the generated configs"
# Limits must be raised past the defaults (Envoy 1,024 circuit breakers, nginx 768 connections).
grep -q '"max_connections": 100000' "$D/envoy.json" || die "envoy circuit breakers not raised"
grep -q 'worker_connections 19900;' "$D/nginx.conf" || die "nginx worker_connections not raised"
! "$BIN" lb-config envoy --backend 127.0.0.1:1 --max-sessions 10000 >/dev/null 2>&1 || die "lb-config accepted 10,000 sessions (20,000 fds)"

# live nginx in front of three servers
pids=()
cleanup() { stop_pidfiles "$RUN_DIR"/lbtest-*.pid || true; }
trap cleanup EXIT
SP=("" "$S1" "$S2" "$S3")
for i in 1 2 3; do
  ( PORT=${SP[$i]} HOST=127.0.0.1 WORKERS=1 MAX_CONCURRENT_ENVS=4096 exec "$BIN" serve > "$D/server$i.log" 2>&1 & echo $! > "$RUN_DIR/lbtest-server$i.pid" )
done
for i in 1 2 3; do wait_http "http://127.0.0.1:${SP[$i]}/health" 30 || die "lb-config: server $i did not start"; done
nginx -c "$D/nginx.conf" -g 'daemon off;' > "$D/nginx.log" 2>&1 &
echo $! > "$RUN_DIR/lbtest-nginx.pid"
wait_http http://127.0.0.1:$LBP/lb-health 10 || { cat "$D/nginx.log" >&2; die "nginx did not start"; }
run_cell lb-nginx-3 http://127.0.0.1:$LBP 600 0.5 3
stop_pidfiles "$RUN_DIR/lbtest-server3.pid"
run_cell lb-nginx-after-kill http://127.0.0.1:$LBP 600 0.5 2
host_counts "$DEPLOY_WORK/cells/lb-nginx-after-kill" | grep -q ":$S3 " && die "nginx still sent sessions to the killed server"
log "lb-config: live nginx spread sessions over 3 servers and routed around a killed one"
