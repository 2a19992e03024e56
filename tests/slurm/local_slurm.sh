#!/usr/bin/env bash
# A real one-node Slurm (Debian's slurm-wlm 22.05: munge, slurmctld, slurmd) with FAKE GPUs,
# for tests/workflow/test_slurm.py and profiles/slurm-local. Run as root; no systemd needed.
#
#   local_slurm.sh up      install missing packages, configure, start daemons, print sinfo [default]
#   local_slurm.sh down    stop the daemons (by pid file) and remove slurm.conf, which `up`
#                          writes again; packages and state stay
#   local_slurm.sh purge   down + remove configuration, Slurm state and the fake-GPU links
#
# Partitions: `cpu` (default) and `gpu`, one node with NGPUS gres GPUs whose device files are
# symlinks to /dev/null (slurmd drops a GPU gres without File=, and File= must be a char device).
#
# Env knobs:
#   NGPUS=2        fake GPUs
#   GPU_TYPE=a100  their gres type, so that profiles/slurm's `gpu_model` (--gpus=a100:N) holds here
#   WITH_DBD=0     0: no accounting; the profile sets `slurm-status-command: squeue` (needs
#                  MinJobAge >= 120 s, 600 here). 1: slurmdbd + a local MariaDB, so `sacct`
#                  (the plugin's default status command) works; slower to set up.
#   MEM_MB=        node RealMemory (default: 85% of what `slurmd -C` reports)
#   CPUS=          default: detected
set -euo pipefail

ACTION=${1:-up}
NGPUS=${NGPUS:-2}
GPU_TYPE=${GPU_TYPE:-a100}
WITH_DBD=${WITH_DBD:-0}
NODE=$(hostname -s)
CONF=/etc/slurm
export SLURM_CONF=$CONF/slurm.conf   # the daemons and clients below use the config written here
FAKEGPU_DIR=/var/lib/slurm/fakegpu
DBPASS=${DBPASS:-slurmdbpass}

ts() { date +%s.%N; }
step() { STEP_T0=$(ts); echo "== $*"; }
elapsed() { awk -v a="$1" -v b="$(ts)" 'BEGIN{printf "%.1f", b-a}'; }
done_step() { echo "   ($(elapsed "$STEP_T0")s)"; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {   # $1=name $2=pidfile
  if pid_alive "$2"; then
    local p; p=$(cat "$2"); echo "   stopping $1 (pid $p)"; kill "$p"
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && { echo "   $1 still alive, SIGKILL"; kill -9 "$p"; }
  fi
  rm -f "$2"
}

down() {
  step "stopping daemons"
  stop_pidfile slurmd    /run/slurmd.pid
  stop_pidfile slurmctld /run/slurmctld.pid
  stop_pidfile slurmdbd  /run/slurmdbd.pid
  if pid_alive /run/mysqld/mysqld.pid; then /etc/init.d/mariadb stop || true; fi
  stop_pidfile munged    /run/munge/munged.pid
  # A client config with no controller behind it makes every scontrol call wait out
  # MessageTimeout (10 s), and Snakemake's Slurm plugin runs one at every start, so every
  # `snakemake` on this machine would start 9 s late. Without it scontrol fails at once.
  rm -f $CONF/slurm.conf
  done_step
}

if [ "$ACTION" = down ]; then down; exit 0; fi
if [ "$ACTION" = purge ]; then
  down
  rm -f $CONF/slurm.conf $CONF/gres.conf $CONF/slurmdbd.conf
  rm -rf /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/* "$FAKEGPU_DIR" /var/log/slurm/*
  if command -v mysql >/dev/null && [ -d /var/lib/mysql/slurm_acct_db ]; then
    /etc/init.d/mariadb start >/dev/null && mysql -u root -e 'DROP DATABASE IF EXISTS slurm_acct_db' \
      && /etc/init.d/mariadb stop >/dev/null || true
  fi
  echo "purged (packages left installed)"; exit 0
fi
[ "$ACTION" = up ] || { echo "usage: $0 [up|down|purge]"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "must run as root"; exit 1; }
T_ALL=$(ts)

# ---------------------------------------------------------------- 1. packages
step "apt packages"
PKGS="slurm-wlm munge"
[ "$WITH_DBD" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
MISSING=""
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || MISSING="$MISSING $p"; done
if [ -n "$MISSING" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # a fresh machine's package lists may be stale or empty: update once, then retry
  apt-get install -y -q $MISSING >/tmp/local_slurm_apt.log 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q $MISSING >/tmp/local_slurm_apt.log 2>&1; } \
    || { echo "local_slurm.sh: apt-get install$MISSING failed:"; tail -20 /tmp/local_slurm_apt.log; exit 1; }
  echo "   installed:$MISSING"
else echo "   already installed"; fi
done_step

# ---------------------------------------------------------------- 2. munge
step "munge"
[ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || create-munge-key -f; }
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
if ! pid_alive /run/munge/munged.pid; then runuser -u munge -- /usr/sbin/munged; sleep 0.3; fi
munge -n | unmunge >/dev/null && echo "   munged pid $(cat /run/munge/munged.pid), credential round-trip OK"
done_step

# ---------------------------------------------------------------- 3. config
step "slurm config ($NODE, $NGPUS fake GPUs, WITH_DBD=$WITH_DBD)"
grep -qE "^[0-9.]+\s.*\b$NODE\b" /etc/hosts || echo "127.0.0.1 $NODE" >> /etc/hosts
HW=$(slurmd -C | head -1)                       # NodeName=... CPUs=.. Boards=.. ... RealMemory=..
DET_MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
MEM_MB=${MEM_MB:-$(( DET_MEM * 85 / 100 ))}
NODELINE=$(sed -e "s/^NodeName=[^ ]*/NodeName=$NODE NodeAddr=127.0.0.1/" -e "s/RealMemory=[0-9]*/RealMemory=$MEM_MB/" <<<"$HW")
[ -n "${CPUS:-}" ] && NODELINE=$(sed -e "s/CPUs=[0-9]*/CPUs=$CPUS/" <<<"$NODELINE")
if [ "$WITH_DBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none"
else
  ACCT="AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log"
fi
install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
install -d "$FAKEGPU_DIR"
for i in $(seq 0 $((NGPUS-1))); do ln -sfn /dev/null "$FAKEGPU_DIR/gpu$i"; done   # gres File= must be a char dev

NEW_CONF=$(cat <<EOF
# generated by local_slurm.sh
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
ReturnToService=2
# keep finished jobs visible to squeue for 10 min (snakemake squeue status mode needs >=120s)
MinJobAge=600
GresTypes=gpu
$ACCT
$NODELINE Gres=gpu:$GPU_TYPE:$NGPUS State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO  MaxTime=INFINITE State=UP
EOF
)
NEW_GRES="AutoDetect=off
NodeName=$NODE Name=gpu Type=$GPU_TYPE File=$FAKEGPU_DIR/gpu[0-$((NGPUS-1))]"
CONF_CHANGED=0
[ "$(cat $CONF/slurm.conf 2>/dev/null)" = "$NEW_CONF" ] || { printf '%s\n' "$NEW_CONF" > $CONF/slurm.conf; CONF_CHANGED=1; }
[ "$(cat $CONF/gres.conf 2>/dev/null)" = "$NEW_GRES" ] || { printf '%s\n' "$NEW_GRES" > $CONF/gres.conf; CONF_CHANGED=1; }
echo "   $NODELINE Gres=gpu:$GPU_TYPE:$NGPUS  (config changed: $CONF_CHANGED)"
done_step

# ---------------------------------------------------------------- 4. accounting (optional)
if [ "$WITH_DBD" = 1 ]; then
  step "mariadb + slurmdbd"
  if ! pid_alive /run/mysqld/mysqld.pid; then /etc/init.d/mariadb start >/dev/null; fi
  for _ in $(seq 1 50); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.2; done
  mysql -u root <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
  cat > $CONF/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm $CONF/slurmdbd.conf; chmod 600 $CONF/slurmdbd.conf
  if ! pid_alive /run/slurmdbd.pid; then slurmdbd; fi
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.2; done
  echo "   mariadbd pid $(cat /run/mysqld/mysqld.pid), slurmdbd pid $(cat /run/slurmdbd.pid)"
  done_step
fi

# ---------------------------------------------------------------- 5. slurmctld + slurmd
step "slurmctld + slurmd"
if [ "$CONF_CHANGED" = 1 ]; then     # restart so that a changed config is certainly applied
  stop_pidfile slurmd /run/slurmd.pid; stop_pidfile slurmctld /run/slurmctld.pid
fi
pid_alive /run/slurmctld.pid || slurmctld
for _ in $(seq 1 50); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
pid_alive /run/slurmd.pid || slurmd
for _ in $(seq 1 50); do [ -s /run/slurmd.pid ] && break; sleep 0.1; done   # written after fork
echo "   slurmctld pid $(cat /run/slurmctld.pid), slurmd pid $(cat /run/slurmd.pid)"
# wait for node registration; undrain if a previous (bad) config left it DRAIN/INVAL
for i in $(seq 1 60); do
  ST=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
  case "$ST" in
    idle|mixed|allocated) break ;;
    *drain*|*inval*|down*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
if [ "$WITH_DBD" = 1 ]; then
  for _ in $(seq 1 20); do sacctmgr -n list cluster format=cluster 2>/dev/null | grep -q local && break; sleep 0.5; done
  sacctmgr -n list cluster format=cluster | grep -q local || sacctmgr -i add cluster local
fi
done_step

echo "== total $(elapsed "$T_ALL")s"
sinfo -o '%P %a %l %D %T %N %G'
