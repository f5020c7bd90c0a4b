#!/usr/bin/env bash
# munge.sh up|down: a munged for SLURM authentication, started without systemd. `down` stops it
# only if `up` started it (pid file in $RUN_DIR).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
case ${1:-} in
  up)
    if ok; then log "munged already running: reusing it"; exit 0; fi
    if [ ! -s /etc/munge/munge.key ]; then
      mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge      # no systemd-tmpfiles here
    runuser -u munge -- /usr/sbin/munged                 # daemonizes, writes /run/munge/munged.pid
    for _ in $(seq 1 50); do ok && break; sleep 0.1; done
    ok || die "munged did not start"
    cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
    ;;
  down) stop_pidfiles "$RUN_DIR/munged.pid" ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
