# shellcheck shell=bash
# Shared helpers for scripts/rig/*.sh (sourced, not run). See scripts/rig/README.md.
#
# Everything the rig creates is named here, so `down` can find and remove it:
#   TSP_RIG_DIR     state, keys, logs, pid files          (default /run/tsparallel-rig)
#   TSP_RIG_SHARED  the cluster's "shared file system"     (default /srv/tsparallel-shared)
#   TSP_RIG_SUBNET  /24 prefix used only on the rig bridge (default 10.77.7 -> 10.77.7.0/24)
#   TSP_RIG_BRIDGE  bridge name                            (default tsprig0)
#   TSP_RIG_NS_PREFIX  netns name = prefix + host          (default tsp-)
#   TSP_RIG_VETH_PREFIX  bridge-side veth = prefix + index (default tsprv)
# Two rigs can run side by side when every one of these differs (Slurm excepted: one at a time).
# Nothing here talks to the network except apt-get (through the machine's own apt configuration).

TSP_RIG_DIR=${TSP_RIG_DIR:-/run/tsparallel-rig}
TSP_RIG_SUBNET=${TSP_RIG_SUBNET:-10.77.7}
TSP_RIG_BRIDGE=${TSP_RIG_BRIDGE:-tsprig0}
TSP_RIG_NS_PREFIX=${TSP_RIG_NS_PREFIX:-tsp-}
TSP_RIG_VETH_PREFIX=${TSP_RIG_VETH_PREFIX:-tsprv}
TSP_RIG_SHARED=${TSP_RIG_SHARED:-/srv/tsparallel-shared}
RIG_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOSTS_SH=$RIG_HERE/hosts.sh

_me=$(basename "$0" .sh)
log()  { printf '[rig/%s] %s\n' "$_me" "$*" >&2; }
die()  { printf '[rig/%s] ERROR: %s\n' "$_me" "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces need CAP_SYS_ADMIN)"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# apt_install PKG... : install only the missing ones, non-interactively. While installing, a
# policy-rc.d forbidding service starts is put in place (if none exists), so postinst scripts never
# start sshd/munge/slurm on the machine itself.
apt_install() {
  local missing=() p lock
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "packages missing (${missing[*]}) and no apt-get to install them"
  # One install at a time (all.sh brings Slurm and Grid Engine up side by side): apt-get update does not wait for
  # another one's lock on its lists, and each install puts in and takes out the same policy-rc.d.
  exec {lock}>/tmp/tsparallel-rig-apt.lock
  flock "$lock"
  missing=()
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then exec {lock}>&-; return 0; fi
  log "apt-get install ${missing[*]}"
  local made_policy=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  { apt-get -qq -o DPkg::Lock::Timeout=300 update &&
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"; } \
    >/tmp/tsparallel-rig-apt.log 2>&1 || rc=$?
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  exec {lock}>&-
  [ $rc = 0 ] || { tail -20 /tmp/tsparallel-rig-apt.log >&2; die "apt-get install ${missing[*]} failed (log: /tmp/tsparallel-rig-apt.log)"; }
}

# pid_alive PID MARKER : PID exists and its command line contains MARKER
pid_alive() {
  local pid=$1 marker=${2:-}
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  [ -z "$marker" ] && return 0
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

# pid_gone PID : PID no longer exists or is a zombie
pid_gone() { [ ! -e "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# wait_for SECONDS CMD... : poll CMD every 0.1 s until it succeeds or the time is up
wait_for() {
  local t=$1; shift
  local end=$(( $(date +%s%N) + t * 1000000000 ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.1
  done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# on HOST CMD... : run CMD on a rig host
on() { "$HOSTS_SH" exec "$@"; }
host_list() { "$HOSTS_SH" list; }
