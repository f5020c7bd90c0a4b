#!/usr/bin/env bash
# Run the OpenEnv benchmark environment server on this machine (the Python original's run_uvicorn.sh).
#
#   deploy/local/run_server.sh                      # 0.0.0.0:8000, WORKERS=nproc
#   PORT=8001 WORKERS=2 MAX_CONCURRENT_ENVS=4096 deploy/local/run_server.sh
#
# Environment (same names and meanings as the Python original):
#   PORT (8000)  HOST (0.0.0.0)  WORKERS (number of CPUs: worker processes sharing the port)
#   MAX_CONCURRENT_ENVS (per worker; the server's default when unset)
#   OPENENV_BENCH: path of the binary (default: target/release/openenv-bench, built if missing)
# The server runs in the foreground (exec): Ctrl-C or SIGTERM stops it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${OPENENV_BENCH:-$ROOT/target/release/openenv-bench}
if [ ! -x "$BIN" ]; then
  command -v cargo >/dev/null || { echo "error: $BIN missing and cargo not found (install Rust: https://rustup.rs)" >&2; exit 1; }
  echo "building openenv-bench (cargo build --release) ..." >&2
  (cd "$ROOT" && cargo build --release --bin openenv-bench >&2)
fi
export PORT=${PORT:-8000}
export HOST=${HOST:-0.0.0.0}
export WORKERS=${WORKERS:-$(nproc 2>/dev/null || echo 1)}
[ -n "${MAX_CONCURRENT_ENVS:-}" ] && export MAX_CONCURRENT_ENVS
echo "openenv-bench serve on http://$HOST:$PORT (WORKERS=$WORKERS MAX_CONCURRENT_ENVS=${MAX_CONCURRENT_ENVS:-default})" >&2
exec "$BIN" serve
