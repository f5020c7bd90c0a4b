#!/usr/bin/env bash
# slurm_single.sh up|down: a one-host SLURM 22.05 cluster (slurmctld + slurmd on this host) with
# its own config, state and pid files under $DEPLOY_WORK/slurm-single (SLURM_CONF points there;
# /etc/slurm is untouched). Needs munge.sh up.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$DEPLOY_WORK/slurm-single
export SLURM_CONF=$D/slurm.conf
case ${1:-} in
  up)
    H=$(hostname -s)
    mkdir -p "$D"/{state,spool,log}; chown slurm:slurm "$D/state" "$D/log"
    cat > "$SLURM_CONF" <<EOC
ClusterName=oebsingle
SlurmctldHost=$H(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$RUN_DIR/slurmctld-single.pid
SlurmdPidFile=$RUN_DIR/slurmd-single.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
# No cgroups needed: linuxproc tracks job processes by parentage (so servers must not daemonize).
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
# Advertise more CPUs than the 2 real cores (config_overrides keeps slurmd from draining the node),
# otherwise a job asking for more stays pending forever instead of failing.
SlurmdParameters=config_overrides
NodeName=$H NodeAddr=127.0.0.1 CPUs=8 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOC
    chmod 644 "$SLURM_CONF"
    slurmctld; slurmd                                      # both daemonize and write their pid files
    for _ in $(seq 1 100); do sinfo -h -o %T 2>/dev/null | grep -q '^idle' && break; sleep 0.1; done
    sinfo -h -o %T | grep -q '^idle' || { sinfo -N -o "%N %T %E"; tail -n 20 "$D/log/slurmd.log"; die "slurm node not idle"; }
    ;;
  down)
    if [ -s "$RUN_DIR/slurmctld-single.pid" ]; then
      ids=$(squeue -h -o %i 2>/dev/null || true)
      [ -n "$ids" ] && { scancel $ids 2>/dev/null || true; sleep 1; }
    fi
    stop_pidfiles "$RUN_DIR/slurmd-single.pid" "$RUN_DIR/slurmctld-single.pid"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
