#!/usr/bin/env bash
# Starts a single-node Slurm on this machine (Debian's slurm-wlm and munge), as root and without systemd, for
# the tests that submit studies to it. Idempotent: installs what is missing, starts what is not running, and
# returns once the node accepts jobs. Usage: tests/slurm/start.sh  (prints the seconds it took)
set -euo pipefail
started=$(date +%s)
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurm-client munge >/dev/null
fi
host=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
conf_dir=/etc/slurm
$sudo mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge
conf=$(cat <<CONF
# Written by tests/slurm/start.sh: one node, root, no systemd, no cgroups.
ClusterName=study-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Jobs waiting on a finished dependency start within a second (tests chain short arrays).
SchedulerParameters=sched_interval=1,sched_min_interval=0,bf_interval=1
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=600
MaxArraySize=100001
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
)
if [ "$(cat "$conf_dir/slurm.conf" 2>/dev/null)" != "$conf" ]; then
  echo "$conf" | $sudo tee "$conf_dir/slurm.conf" >/dev/null
  restart=1
else
  restart=0
fi
if [ ! -s /etc/munge/munge.key ]; then
  $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
# munged runs as root here (SlurmUser is root too), so its files are root's.
$sudo chown -R root:root /etc/munge /var/lib/munge /var/log/munge /run/munge
$sudo chmod 0700 /etc/munge /var/lib/munge /var/log/munge
$sudo chmod 0400 /etc/munge/munge.key
$sudo chmod 0755 /run/munge
pgrep -x munged >/dev/null || $sudo munged --force
if [ "$restart" = 1 ]; then
  $sudo pkill -x slurmctld || true
  $sudo pkill -x slurmd || true
  # Both save their state before they exit; a new one must not start before.
  for _ in $(seq 1 60); do
    pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
    sleep 0.5
  done
fi
pgrep -x slurmctld >/dev/null || $sudo slurmctld
pgrep -x slurmd >/dev/null || $sudo slurmd
# Ready when the node is idle (or mixed) and a trivial job runs.
for _ in $(seq 1 120); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
  case "$state" in
    idle*|mix*|alloc*) break ;;
    down*|drain*|unk*) $sudo scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
done
if ! timeout 120 srun -N1 -n1 true; then
  echo "slurm did not start: see /var/log/slurm/slurmctld.log and slurmd.log" >&2
  exit 1
fi
echo "slurm ready on $host ($cpus CPUs) in $(( $(date +%s) - started )) s"
