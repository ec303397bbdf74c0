#!/usr/bin/env bash
# A single-node Slurm cluster in a folder, for the tests of the Slurm executor and for trying
# it on one machine: munge + slurmctld + slurmd as root, no systemd, stopped by pid.
#
#   scripts/slurm-local.sh start [DIR]    # installs slurm-wlm and munge when missing; prints
#                                         # `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-local.sh status [DIR]   # the node's state (idle, mixed, allocated, down)
#   scripts/slurm-local.sh stop [DIR]     # slurmd, slurmctld, munged, each waited for
#
# DIR defaults to target/slurm-local. Client commands (sbatch, squeue, scontrol) need
# SLURM_CONF pointing at DIR/slurm.conf. Needs root (Slurm's fixed ports 6817/6818); one
# cluster per machine. What was measured about this setup: ../shared/notes/slurm.md.
set -euo pipefail

cmd=${1:-}
dir=${2:-target/slurm-local}
case "$cmd" in start | stop | status) ;; *)
  echo "usage: $0 start|stop|status [DIR]" >&2
  exit 2
  ;;
esac
mkdir -p "$dir"
D=$(cd "$dir" && pwd)
conf=$D/slurm.conf

# Whether process $1 runs: a zombie (exited, not reaped because its parent, a subreaper that
# adopted the daemon, does not wait) counts as gone.
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# Stops the daemon whose pid file is $1 and waits until it has exited (never by name: other
# clusters' daemons are not ours).
stop_pid() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && alive "$pid"; then
    kill "$pid"
    for _ in $(seq 100); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "$pidfile: pid $pid did not exit within 10 s" >&2
      return 1
    fi
  fi
  rm -f "$pidfile"
}

if [ "$cmd" = stop ]; then
  stop_pid "$D/run/slurmd.pid"
  stop_pid "$D/run/slurmctld.pid"
  stop_pid "$D/run/munged.pid"
  echo "stopped the cluster in $D"
  exit 0
fi

if [ "$cmd" = status ]; then
  SLURM_CONF=$conf sinfo -h -o %T
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "$0: needs root (Slurm's daemons listen on the fixed ports 6817 and 6818)" >&2
  exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
mkdir -p "$D"/{munge,state,spool,run,log,logs}
# munged refuses a key folder others can read and a socket folder others cannot enter
mkdir -p -m 0700 "$D/munge"
mkdir -p -m 0755 "$D/munge-run"
chmod 0700 "$D/munge"
chmod 0755 "$D/munge-run"
[ -f "$D/munge/munge.key" ] || mungekey -c -k "$D/munge/munge.key"
socket=$D/munge-run/munge.socket.2
if ! { [ -f "$D/run/munged.pid" ] && alive "$(cat "$D/run/munged.pid")"; }; then
  munged --key-file="$D/munge/munge.key" --socket="$socket" --pid-file="$D/run/munged.pid" \
    --log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed"
fi

mem_mib=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 256))
cat >"$conf" <<EOF
ClusterName=edgenas-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mib State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF=$conf
pid_alive() { [ -f "$1" ] && alive "$(cat "$1")"; }
pid_alive "$D/run/slurmctld.pid" || slurmctld -f "$conf"
pid_alive "$D/run/slurmd.pid" || slurmd -f "$conf"
for _ in $(seq 150); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  case "$state" in idle | mixed | allocated) break ;; esac
  sleep 0.2
done
case "${state:-}" in
idle | mixed | allocated) ;;
*)
  echo "$0: the node did not come up within 30 s (state: '${state:-none}'); logs in $D/log" >&2
  exit 1
  ;;
esac
echo "export SLURM_CONF=$conf"
