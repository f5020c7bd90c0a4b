#!/usr/bin/env bash
# netns_cluster.sh up N | down: an N-node SLURM cluster on this one machine.
#  - one network namespace per host on a bridge that lives in its own namespace (oeb-sw), so the
#    root namespace gets no address: head = 10.200.0.10 (slurmctld, the "login node"),
#    nodeK = 10.200.0.(10+K) (one slurmd each);
#  - every daemon runs under `nshost` (own hostname + /etc/hosts), so job steps on nodeK listen
#    on 10.200.0.(10+K) and see hostname nodeK; one munged (socket on the shared filesystem)
#    serves them all;
#  - every host also has 16 client addresses on its eth0 (head 10.200.0.100-115, node1 116-131,
#    ...), listed in env.sh as OEB_CLIENT_ADDRS_<host> (OEB_CLIENT_ADDRS: the head's) for
#    `scale --source-addrs`.
# Config, state, logs, pid files: $DEPLOY_WORK/slurm-multi. Use it with
#   . $DEPLOY_WORK/slurm-multi/env.sh; nshost head sbatch ...
# Needs munge.sh up.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$DEPLOY_WORK/slurm-multi
export SLURM_CONF=$D/slurm.conf PATH=$TESTBED:$PATH
hosts_of() { echo head; ls "$D/spool" 2>/dev/null; }
# client_addrs I SEP: host I's (head = 0) 16 client addresses, SEP-separated.
client_addrs() { seq -s "$2" -f '10.200.0.%g' $((100 + 16 * $1)) $((115 + 16 * $1)); }
case ${1:-} in
  up)
    N=${2:-3}
    [ "$N" -le 8 ] || die "at most 8 nodes (the client addresses of 9 hosts fill 10.200.0.100-253)"
    env_addrs=
    [ -e /run/netns/oeb-sw ] && die "namespace oeb-sw exists: another cluster is up (run '$0 down')"
    mkdir -p "$D"/{state,log,spool}; chown slurm:slurm "$D/state" "$D/log"
    specs=("head:10.200.0.10"); for k in $(seq 1 "$N"); do specs+=("node$k:10.200.0.$((10 + k))"); done
    ip netns add oeb-sw
    ip netns exec oeb-sw ip link set lo up
    ip netns exec oeb-sw ip link add br0 type bridge
    ip netns exec oeb-sw ip link set br0 up
    hosts="127.0.0.1 localhost"
    i=0
    for spec in "${specs[@]}"; do
      name=${spec%%:*} addr=${spec#*:}; i=$((i + 1))
      ip netns add "oeb-$name"
      ip netns exec "oeb-$name" ip link set lo up
      ip netns exec "oeb-$name" sysctl -q -w net.core.somaxconn=4096 2>/dev/null || true
      ip link add "oebh$i" type veth peer name "oebs$i"
      ip link set "oebh$i" netns "oeb-$name"
      ip link set "oebs$i" netns oeb-sw
      ip netns exec "oeb-$name" ip link set "oebh$i" name eth0
      ip netns exec "oeb-$name" ip addr add "$addr/24" dev eth0
      ip netns exec "oeb-$name" ip link set eth0 up
      # Extra client addresses (host i: 10.200.0.(100 + 16 i)..): each brings its own ~28k
      # ports towards the LB's one address (HTTP cells leave theirs in TIME_WAIT).
      for c in $(client_addrs $((i - 1)) " "); do
        ip netns exec "oeb-$name" ip addr add "$c/24" dev eth0
      done
      env_addrs+="export OEB_CLIENT_ADDRS_$name=$(client_addrs $((i - 1)) ,)
"
      ip netns exec oeb-sw ip link set "oebs$i" master br0
      ip netns exec oeb-sw ip link set "oebs$i" up
      mkdir -p "/etc/netns/oeb-$name"
      hosts="$hosts
$addr $name"
      [ "$name" = head ] || mkdir -p "$D/spool/$name"
    done
    for spec in "${specs[@]}"; do printf '%s\n' "$hosts" > "/etc/netns/oeb-${spec%%:*}/hosts"; done
    { cat <<EOC
ClusterName=oebmulti
SlurmctldHost=head(10.200.0.10)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$RUN_DIR/slurmctld-multi.pid
SlurmdPidFile=$RUN_DIR/slurmd-multi-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
SlurmdParameters=config_overrides
EOC
      for k in $(seq 1 "$N"); do echo "NodeName=node$k NodeAddr=10.200.0.$((10 + k)) CPUs=8 RealMemory=4000"; done
      echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } > "$SLURM_CONF"
    chmod 644 "$SLURM_CONF"
    { printf 'export SLURM_CONF=%q\nexport PATH=%q:$PATH\n' "$SLURM_CONF" "$TESTBED"
      printf '%s' "$env_addrs"; echo 'export OEB_CLIENT_ADDRS=$OEB_CLIENT_ADDRS_head'; } > "$D/env.sh"
    nshost head slurmctld
    for k in $(seq 1 "$N"); do nshost "node$k" slurmd; done
    for _ in $(seq 1 150); do
      [ "$(nshost head sinfo -h -t idle -o %D 2>/dev/null)" = "$N" ] && break; sleep 0.1
    done
    [ "$(nshost head sinfo -h -t idle -o %D)" = "$N" ] || { nshost head sinfo -N -o "%N %T %E"; die "cluster not idle"; }
    ;;
  down)
    if [ -s "$RUN_DIR/slurmctld-multi.pid" ]; then
      ids=$(nshost head squeue -h -o %i 2>/dev/null || true)
      [ -n "$ids" ] && { nshost head scancel $ids 2>/dev/null || true; sleep 1; }
    fi
    stop_pidfiles "$RUN_DIR"/slurmd-multi-*.pid "$RUN_DIR/slurmctld-multi.pid"
    for name in $(hosts_of) sw; do
      if [ -e "/run/netns/oeb-$name" ]; then
        # Anything still running inside a namespace this script created was started by the test
        # (job steps, servers, LBs): stop it before deleting the namespace.
        pids=$(ip netns pids "oeb-$name" 2>/dev/null || true)
        [ -n "$pids" ] && { kill $pids 2>/dev/null || true; sleep 0.5; kill -9 $pids 2>/dev/null || true; }
        ip netns del "oeb-$name" 2>/dev/null || true
      fi
      rm -rf "/etc/netns/oeb-$name"
    done
    ;;
  *) echo "usage: $0 up N | down" >&2; exit 2 ;;
esac
