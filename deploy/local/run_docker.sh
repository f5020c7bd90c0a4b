#!/usr/bin/env bash
# Run the benchmark server in Docker (the image of deploy/docker/Dockerfile: a static
# openenv-bench, FROM scratch) and wait until it is healthy.
#
#   deploy/local/run_docker.sh                 # build the image if missing, run it, wait for /health
#   PORT=8001 WORKERS=2 MAX_CONCURRENT_ENVS=4096 deploy/local/run_docker.sh
#   deploy/local/run_docker.sh stop            # stop and remove the container
#
# Environment: PORT (8000) HOST (0.0.0.0) WORKERS (2) MAX_CONCURRENT_ENVS (server default)
#   IMAGE (openenv-bench:latest)  NAME (openenv-bench-$PORT)  DOCKER (docker)
#   NETWORK (host: no NAT in the data path; any other value publishes PORT with -p)
#   HEALTH_TIMEOUT (60 s)  BUILD=1 forces a rebuild of the image
# The container gets --ulimit nofile=20000 (each WS session holds one fd) and restarts never:
# a benchmark should see failures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DOCKER=${DOCKER:-docker}
PORT=${PORT:-8000}
HOST=${HOST:-0.0.0.0}
WORKERS=${WORKERS:-2}
IMAGE=${IMAGE:-openenv-bench:latest}
NAME=${NAME:-openenv-bench-$PORT}
NETWORK=${NETWORK:-host}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-60}

if [ "${1:-}" = stop ]; then
  # docker stop sends SIGTERM; the server shuts down gracefully and exits 0.
  "$DOCKER" stop -t 20 "$NAME" >/dev/null
  code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$NAME")
  "$DOCKER" rm "$NAME" >/dev/null
  echo "container $NAME stopped (exit code $code)"
  exit "$code"
fi

if [ "${BUILD:-0}" = 1 ] || ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  "$ROOT/deploy/docker/build.sh" "$IMAGE"
fi

net=(--network host)
[ "$NETWORK" = host ] || net=(--network "$NETWORK" -p "$PORT:$PORT")
env_args=(-e "PORT=$PORT" -e "HOST=$HOST" -e "WORKERS=$WORKERS")
[ -n "${MAX_CONCURRENT_ENVS:-}" ] && env_args+=(-e "MAX_CONCURRENT_ENVS=$MAX_CONCURRENT_ENVS")
cid=$("$DOCKER" run -d --name "$NAME" "${net[@]}" "${env_args[@]}" --ulimit nofile=20000:20000 "$IMAGE")
echo "container $NAME (${cid:0:12}) from $IMAGE, port $PORT"

# Wait for the image's HEALTHCHECK (`openenv-bench health` inside the container, every 5 s) to
# report healthy, failing fast if the container exits or turns unhealthy. An image without a
# HEALTHCHECK is probed from the host instead (GET /health until {"status":"healthy"}).
url_host=$HOST; [ "$url_host" = 0.0.0.0 ] && url_host=127.0.0.1
has_hc=$("$DOCKER" inspect -f '{{if .State.Health}}yes{{end}}' "$NAME")
health_log() { "$DOCKER" inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$NAME" 2>/dev/null | tail -n 3 >&2 || true; }
deadline=$((SECONDS + HEALTH_TIMEOUT))
while :; do
  if [ -n "$has_hc" ]; then
    status=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null || true)
    [ "$status" = healthy ] && break
    [ "$status" = unhealthy ] && { echo "error: container $NAME is unhealthy:" >&2; health_log; "$DOCKER" logs --tail 30 "$NAME" >&2; exit 1; }
  else
    body=$(curl -sf -m 2 "http://$url_host:$PORT/health" 2>/dev/null) && [[ $body == *healthy* ]] && break
  fi
  if [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" != true ]; then
    echo "error: container $NAME exited:" >&2; "$DOCKER" logs --tail 30 "$NAME" >&2; exit 1
  fi
  [ $SECONDS -ge $deadline ] && { echo "error: not healthy after ${HEALTH_TIMEOUT}s" >&2; health_log; "$DOCKER" logs --tail 30 "$NAME" >&2; exit 1; }
  sleep 0.2
done
echo "healthy${has_hc:+ (docker HEALTHCHECK)}: http://$url_host:$PORT  (stop: $0 stop, or docker stop $NAME)"
