#!/usr/bin/env bash
# Reproduce the numbers in docs/server.md: idle RSS, RSS with 10,000 idle WS sessions, and
# 10,000 full sessions (connect + reset + step(0) + close), with the ws_bench example client.
# Usage: crates/server/examples/measure.sh [extra serve flags...]
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release -q -p openenv-bench -p openenv-server --example ws_bench
BIN=target/release/openenv-bench
BENCH=target/release/examples/ws_bench
PORT=${MEASURE_PORT:-18299}
URL=ws://127.0.0.1:$PORT/ws

start() {
  "$BIN" serve --host 127.0.0.1 --port "$PORT" --max-concurrent-envs 0 "$@" >/tmp/measure-serve.log 2>&1 &
  SERVER=$!
  for _ in $(seq 50); do
    grep -q "listening on" /tmp/measure-serve.log 2>/dev/null && break
    sleep 0.1
  done
}
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
trap stop EXIT

start "$@"
sleep 1
echo "idle server RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$SERVER/status)"
"$BENCH" hold -n 10000 -c 500 --server-pid "$SERVER" --url "$URL"
stop

start "$@"
for c in 100 1000 10000; do
  "$BENCH" storm -n 10000 -c "$c" --wait 0 --server-pid "$SERVER" --url "$URL"
  sleep 2
done
for _ in 1 2 3; do
  "$BENCH" storm -n 2048 -c 2048 --wait 1 --server-pid "$SERVER" --url "$URL"
  sleep 2
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
