#!/usr/bin/env bash
# dockerd.sh up|down: a private Docker daemon (Debian docker.io) for the tests: its own data-root,
# exec-root, socket and pid file under $DEPLOY_WORK/docker; --bridge=none --iptables=false so it
# creates no bridge and no private-range address (containers run with --network host or none).
# Use it with: export DOCKER_HOST=unix://$DEPLOY_WORK/docker/docker.sock
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$DEPLOY_WORK/docker
DOCKER=$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker)
export DOCKER_HOST=unix://$D/docker.sock
case ${1:-} in
  up)
    mkdir -p "$D/data" "$D/exec"
    # Started in a subshell so it is not in this shell's job table (the test stops it by pid).
    ( dockerd --data-root "$D/data" --exec-root "$D/exec" -H "$DOCKER_HOST" --pidfile "$RUN_DIR/dockerd.pid" \
        --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
        --log-level warn </dev/null >"$D/dockerd.log" 2>&1 & )
    for _ in $(seq 1 300); do "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.1; done
    "$DOCKER" version >/dev/null 2>&1 || { tail -n 30 "$D/dockerd.log"; die "dockerd did not start"; }
    ;;
  down)
    if [ -s "$RUN_DIR/dockerd.pid" ]; then
      ids=$("$DOCKER" ps -aq 2>/dev/null || true)
      [ -n "$ids" ] && { "$DOCKER" rm -f $ids >/dev/null 2>&1 || true; }
    fi
    # dockerd stops its own containerd when it exits.
    stop_pidfiles "$RUN_DIR/dockerd.pid"
    # Leftover overlay mounts under the data root would keep it from being removed.
    { grep -o " $D/[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$D/data" "$D/exec" 2>/dev/null || true
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
