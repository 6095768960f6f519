#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for tests and for trying the
# launcher: munged, slurmctld and slurmd from Debian's packages, started by hand
# as root (no systemd), everything under one directory, on free ports.
#
#   local-cluster.sh start [--cpus N] [--timeout S] [--no-install] [--sched P] [DIR]
#       Installs slurm-wlm and munge when missing, starts the three daemons and
#       waits until the node is idle. DIR defaults to a new /tmp/wsss-slurm.XXXXXX.
#       --sched P: slurm.conf SchedulerParameters (default: Slurm's own).
#       stdout: one line, SLURM_CONF=DIR/slurm.conf (export it to use the cluster).
#   local-cluster.sh stop [--purge] DIR
#       Cancels every job, shuts the daemons down and kills whatever they left;
#       --purge then removes DIR.
#   local-cluster.sh status DIR
#       Exit 0 when the controller answers and the node is up.
#
# Exit codes: 0 ok; 1 the cluster could not be started or stopped (the reason
# and the end of the daemon's log on stderr; a failed start stops what it
# started); 2 usage; 77 not root and no password-less sudo (nothing done).
#
# No cgroups here (containers, gVisor): proctrack/linuxproc and task/none, so
# Slurm tracks a job's processes through their parent ids, and every daemon and
# step is started with WSSS_LOCAL_CLUSTER=DIR in its environment so that `stop`
# can find and kill precisely what this cluster started and nothing else.
set -euo pipefail
export LC_ALL=C

me=local-cluster
die() { echo "$me: $*" >&2; exit 1; }
usage() { echo 'Usage:' >&2; sed -n '6,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Root is needed: slurmd starts job steps as their owners. Re-run through sudo
# when we may; exit 77 (the tests' "skip") when we cannot.
need_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n --preserve-env=PATH "$0" "$@"
  fi
  echo "$me: needs root or password-less sudo to run slurmd, slurmctld and munged" >&2
  exit 77
}

install_packages() {
  local missing=() p
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$me: installing ${missing[*]}" >&2
  # The packages' init scripts try to start the system-wide daemons; this
  # cluster runs its own, so keep theirs stopped.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } \
    || die "could not install ${missing[*]} (apt-get failed; see above)"
}

# A port nobody listens on, outside the kernel's ephemeral range (which srun's
# own sockets use), checked by binding it.
free_port() {
  local avoid=${1:-0} p
  for _ in $(seq 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))
    [ "$p" = "$avoid" ] && continue
    if python3 - "$p" 2>/dev/null <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
PY
    then echo "$p"; return 0; fi
  done
  die "no free TCP port found in 20000-31999"
}

# alive PID: the process exists and is not a zombie (a killed daemon stays a
# zombie until init reaps it, and kill -0 still succeeds on it).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
# pid_alive PIDFILE: the daemon named in PIDFILE is running.
pid_alive() { [ -s "$1" ] && alive "$(cat "$1")"; }

# wait_until TIMEOUT WHAT CMD...: polls CMD every 0.2 s.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$me: timed out after ${timeout}s waiting for $what" >&2; return 1; }
    sleep 0.2
  done
}

log_tail() {
  local f=$1
  [ -s "$f" ] || return 0
  echo "--- last lines of $f" >&2
  tail -n 15 "$f" >&2
}

# Pids of the live processes this cluster started: the daemons (their
# environment holds WSSS_LOCAL_CLUSTER=DIR), slurmstepd and job processes
# (SLURM_CONF=DIR/slurm.conf, with SLURM_JOB_ID or as slurmstepd itself), and
# every descendant of those. Never this script or its ancestors, which may
# well have SLURM_CONF set.
cluster_pids() {
  local dir=$1 d pid stat env
  local -A parent=()
  local roots=()
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    # Processes come and go while we look, and some are unreadable.
    stat=$(cat "$d/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || continue
    stat=${stat#* }
    parent[$pid]=${stat%% *}
    env=$({ tr '\0' '\n' <"$d/environ"; } 2>/dev/null) || continue
    if grep -qxF "WSSS_LOCAL_CLUSTER=$dir" <<<"$env"; then
      roots+=("$pid")
    elif grep -qxF "SLURM_CONF=$dir/slurm.conf" <<<"$env"; then
      if grep -q '^SLURM_JOB_ID=' <<<"$env" || [[ $({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) == slurmstepd* ]]; then
        roots+=("$pid")
      fi
    fi
  done
  local -A keep=() mine=()
  pid=$$
  while [ -n "$pid" ] && [ "$pid" != 0 ]; do mine[$pid]=1; pid=${parent[$pid]:-}; done
  for pid in "${roots[@]}"; do keep[$pid]=1; done
  # Descendants, to a fixed point (a tree is shallow: a few passes).
  local grew=1
  while [ $grew = 1 ]; do
    grew=0
    for pid in "${!parent[@]}"; do
      if [ -z "${keep[$pid]:-}" ] && [ -n "${keep[${parent[$pid]}]:-}" ]; then keep[$pid]=1; grew=1; fi
    done
  done
  for pid in "${!keep[@]}"; do [ -n "${mine[$pid]:-}" ] || echo "$pid"; done
}

cmd_stop() {
  local args=("$@") purge=0
  while [ $# -gt 0 ]; do
    case $1 in --purge) purge=1; shift ;; -*) usage ;; *) break ;; esac
  done
  [ $# -eq 1 ] || usage
  local dir
  dir=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
  [ -f "$dir/.wsss-local-cluster" ] || die "$dir: not a directory made by '$me start'"
  need_root stop "${args[@]}"
  export SLURM_CONF=$dir/slurm.conf
  if [ -f "$SLURM_CONF" ] && pid_alive "$dir/run/slurmctld.pid" && timeout 10 scontrol ping >/dev/null 2>&1; then
    # Jobs first, so that their steps end through Slurm; then the daemons.
    scancel --partition=wsss >/dev/null 2>&1 || true
    wait_until 20 "the jobs to end" sh -c '[ -z "$(squeue -h -o %i)" ]' || true
    timeout 10 scontrol shutdown >/dev/null 2>&1 || true
    local f
    for f in slurmctld slurmd; do
      wait_until 15 "$f to exit" sh -c "! [ -s '$dir/run/$f.pid' ] || ! [ -d /proc/\$(cat '$dir/run/$f.pid') ] || grep -q ') Z' /proc/\$(cat '$dir/run/$f.pid')/stat" || true
    done
  fi
  if pid_alive "$dir/run/munged.pid"; then
    kill "$(cat "$dir/run/munged.pid")" 2>/dev/null || true
    for _ in $(seq 50); do pid_alive "$dir/run/munged.pid" || break; sleep 0.1; done
  fi
  # Whatever is left (a daemon that did not exit, a controller that was dead,
  # slurmstepd and the jobs under it) dies now.
  local left
  left=$(cluster_pids "$dir")
  if [ -n "$left" ]; then
    echo "$me: killing leftover processes:" $left >&2
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null || true
    sleep 0.5
    left=$(cluster_pids "$dir")
    [ -z "$left" ] || die "processes still running after kill -9: $left"
  fi
  rm -f "$dir"/run/*.pid
  if [ $purge = 1 ]; then rm -rf "$dir"; fi
  echo "$me: stopped ($dir)" >&2
}

cmd_status() {
  [ $# -eq 1 ] || usage
  local dir
  dir=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
  [ -f "$dir/slurm.conf" ] || die "$dir: no slurm.conf"
  local state
  state=$(SLURM_CONF=$dir/slurm.conf sinfo -h -N -o '%N %T' 2>&1) || die "controller not answering: $state"
  echo "$state"
  case $state in *" idle"* | *" mixed"* | *" allocated"* | *" completing"*) return 0 ;; esac
  die "node not up: $state"
}

starting_dir=""
on_failed_start() {
  local rc=$?
  trap - EXIT
  if [ $rc -ne 0 ] && [ -n "$starting_dir" ]; then
    local l
    for l in munged slurmctld slurmd; do log_tail "$starting_dir/log/$l.log"; done
    echo "$me: start failed; stopping what was started" >&2
    (cmd_stop "$starting_dir") || true
  fi
  exit $rc
}

cmd_start() {
  local args=("$@") cpus="" timeout=60 install=1 dir="" sched=""
  while [ $# -gt 0 ]; do
    case $1 in
      --cpus) [ $# -ge 2 ] || usage; cpus=$2; shift 2 ;;
      --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
      --no-install) install=0; shift ;;
      --sched) [ $# -ge 2 ] || usage; sched=$2; shift 2 ;;
      -*) usage ;;
      *) [ -z "$dir" ] || usage; dir=$1; shift ;;
    esac
  done
  case $timeout in '' | *[!0-9]*) echo "$me: --timeout needs whole seconds" >&2; exit 2 ;; esac
  case $cpus in *[!0-9]*) echo "$me: --cpus needs a positive integer" >&2; exit 2 ;; esac
  need_root start "${args[@]}"
  if [ $install = 1 ]; then install_packages; fi
  local c
  for c in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol python3; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (install slurm-wlm and munge, or drop --no-install)"
  done

  if [ -z "$dir" ]; then
    dir=$(mktemp -d /tmp/wsss-slurm.XXXXXX)
  else
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/run/slurmctld.pid" ] || die "$dir: a cluster was started here and not stopped ('$me stop $dir')"
  fi
  # The munge socket path must fit in sockaddr_un (108 bytes).
  [ ${#dir} -le 80 ] || die "$dir: path too long for the munge socket (at most 80 characters)"
  # Clients of a non-root user reach the munge socket and read slurm.conf.
  chmod 755 "$dir"
  touch "$dir/.wsss-local-cluster"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge"
  chmod 700 "$dir/state" "$dir/spool"
  chmod 755 "$dir/munge" "$dir/run" "$dir/log"
  export WSSS_LOCAL_CLUSTER=$dir
  export SLURM_CONF=$dir/slurm.conf
  # From here on a failure stops whatever was started. (The EXIT trap runs
  # outside this function, so it reads a global.)
  starting_dir=$dir
  trap on_failed_start EXIT

  local host
  host=$(hostname -s)
  [ -n "$cpus" ] || cpus=$(nproc)
  local ctld_port slurmd_port
  ctld_port=$(free_port)
  slurmd_port=$(free_port "$ctld_port")
  local tmp="$dir/slurm.conf.tmp"
  cat >"$tmp" <<EOF
# Written by scripts/slurm/local-cluster.sh: one node, localhost, no cgroups.
ClusterName=wsss-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket.2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
${sched:+SchedulerParameters=$sched}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
# The hardware as configured here, not as probed (containers report oddly).
SlurmdParameters=config_overrides
# Keep finished jobs visible to scontrol for a while (the launcher's --wait).
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=wsss Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$tmp" "$dir/slurm.conf"

  [ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket.2" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
    </dev/null >/dev/null 2>>"$dir/log/munged.log" || die "munged failed to start"
  wait_until "$timeout" "munged to answer on $dir/munge/munge.socket.2" \
    sh -c "munge -n -S '$dir/munge/munge.socket.2' | unmunge -S '$dir/munge/munge.socket.2'"

  # Daemons detach themselves; their stdio goes nowhere so that a caller
  # waiting on our output (ctest) does not wait on them.
  slurmctld -c -f "$dir/slurm.conf" </dev/null >/dev/null 2>>"$dir/log/slurmctld.log" \
    || die "slurmctld failed to start"
  wait_until "$timeout" "slurmctld to answer on port $ctld_port" scontrol ping
  slurmd -f "$dir/slurm.conf" </dev/null >/dev/null 2>>"$dir/log/slurmd.log" || die "slurmd failed to start"
  wait_until "$timeout" "node $host to become idle" \
    sh -c "sinfo -h -N -n '$host' -o %T | grep -qx idle"
  trap - EXIT
  echo "$me: up in $dir (slurmctld :$ctld_port, slurmd :$slurmd_port, node $host, $cpus CPUs)" >&2
  echo "SLURM_CONF=$dir/slurm.conf"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
