#!/usr/bin/env bash
# Starts a private single-node Slurm on this machine (Debian's slurm-wlm and munge), as root and without
# systemd, for the tests that submit studies to it. Everything it writes lives in one folder of its own
# (STUDY_SLURM_DIR, default /tmp/study-slurm: slurm.conf, state, logs, pid files, its own munge key and
# socket), its daemons listen on ports of their own, and it stops only daemons whose pid files it wrote
# there: a machine's own Slurm and munge (/etc/slurm, /etc/munge, their daemons) are never read, rewritten or
# stopped. The tests reach it through SLURM_CONF=$STUDY_SLURM_DIR/slurm.conf. Idempotent: installs what is
# missing, starts what is not running, and returns once the node accepts jobs.
# Usage: tests/slurm/start.sh  (prints the seconds it took)
set -euo pipefail
started=$(date +%s)
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurm-client munge >/dev/null
fi
dir=${STUDY_SLURM_DIR:-/tmp/study-slurm}
host=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
$sudo mkdir -p "$dir/ctld" "$dir/spool" "$dir/log" "$dir/munge"
export SLURM_CONF="$dir/slurm.conf"
conf=$(cat <<CONF
# Written by tests/slurm/start.sh: one private node, root, no systemd, no cgroups.
ClusterName=study-test
SlurmctldPort=16817
SlurmdPort=16818
AuthInfo=socket=$dir/munge/munge.socket
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
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
if [ "$(cat "$SLURM_CONF" 2>/dev/null)" != "$conf" ]; then
  echo "$conf" | $sudo tee "$SLURM_CONF" >/dev/null
  restart=1
else
  restart=0
fi
# A daemon of ours is one whose pid file here names a live process of that name.
ours() { local pid; pid=$(cat "$dir/$1.pid" 2>/dev/null) && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$1" ]; }
if [ ! -s "$dir/munge/munge.key" ]; then
  $sudo dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
$sudo chmod 0700 "$dir/munge"
$sudo chmod 0400 "$dir/munge/munge.key"
ours munged || $sudo munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
if [ "$restart" = 1 ]; then
  for daemon in slurmctld slurmd; do
    ours "$daemon" && $sudo kill "$(cat "$dir/$daemon.pid")" || true
  done
  # Both save their state before they exit; a new one must not start before.
  for _ in $(seq 1 60); do
    ours slurmctld || ours slurmd || break
    sleep 0.5
  done
fi
ours slurmctld || $sudo slurmctld -f "$SLURM_CONF"
ours slurmd || $sudo slurmd -f "$SLURM_CONF"
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
  echo "slurm did not start: see $dir/log/slurmctld.log and slurmd.log" >&2
  exit 1
fi
echo "slurm ready on $host ($cpus CPUs) in $(( $(date +%s) - started )) s"
