#!/usr/bin/env bash
# Docker: a private dockerd (no bridge, no iptables), the FROM scratch image built from the static
# binary, run by deploy/local/run_docker.sh (host network), a scale cell, the sweep, and a clean
# stop (docker stop -> SIGTERM -> exit code 0, no SIGKILL).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PORT=${DOCKER_PORT:-$(free_port 18121)}
URL=http://127.0.0.1:$PORT
export DOCKER=/usr/bin/docker DOCKER_HOST=unix://$DEPLOY_WORK/docker/docker.sock
trap '"$TESTBED/dockerd.sh" down || true' EXIT
[ -x "$STATIC_BIN" ] || die "docker: static binary missing: $STATIC_BIN"
"$TESTBED/dockerd.sh" up
t0=$SECONDS
OPENENV_BENCH_STATIC=$STATIC_BIN "$REPO/deploy/docker/build.sh" openenv-bench:test
log "docker: image built in $((SECONDS - t0)) s: $($DOCKER image inspect -f '{{.Size}} bytes, user {{.Config.User}}, entrypoint {{.Config.Entrypoint}}' openenv-bench:test)"
layers=$($DOCKER history -q openenv-bench:test | wc -l)
user=$($DOCKER image inspect -f '{{.Config.User}}' openenv-bench:test)
[ "${user%%:*}" != 0 ] && [ -n "$user" ] || die "docker: image runs as root"

IMAGE=openenv-bench:test NAME=oeb-docker-test PORT=$PORT HOST=127.0.0.1 WORKERS=2 MAX_CONCURRENT_ENVS=16384 \
  "$REPO/deploy/local/run_docker.sh"
[ "$($DOCKER inspect -f '{{.HostConfig.NetworkMode}}' oeb-docker-test)" = host ] || die "docker: not --network host"
# run_docker.sh waited on the image's HEALTHCHECK (`openenv-bench health` inside the container).
hc=$($DOCKER inspect -f '{{.State.Health.Status}}' oeb-docker-test)
ok=$($DOCKER inspect -f '{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.Output}}{{end}}{{end}}' oeb-docker-test | grep '^healthy: ' | tail -n 1 || true)
[ "$hc" = healthy ] && [[ $ok == "healthy: "* ]] || die "docker: HEALTHCHECK does not report healthy: $hc ${ok:-(no passing probe)}"
log "docker: HEALTHCHECK $($DOCKER image inspect -f '{{.Config.Healthcheck.Test}}' openenv-bench:test) -> $hc (probe output: $ok)"
run_cell docker-cell "$URL" 1000 1.0 1
run_sweep docker "$URL"
out=$(NAME=oeb-docker-test "$REPO/deploy/local/run_docker.sh" stop) || die "docker: container did not stop cleanly: $out"
log "docker: $out (image: $layers history entries)"
wait_gone "$URL/health" 5 || die "docker: $URL still answers after docker stop"
