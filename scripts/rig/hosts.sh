#!/usr/bin/env bash
# hosts.sh — simulated cluster hosts on one machine, for tsparallel's multi-host tests.
#
#   hosts.sh up [HOST...]        create the hosts (default: $TSP_RIG_HOSTS or "head node1 node2")
#   hosts.sh down                kill every process on the hosts (by pid), delete namespaces and bridge
#   hosts.sh exec HOST CMD...    run CMD "on" HOST: its net, pid, uts and mount namespaces; cwd kept
#   hosts.sh status              hosts, addresses, init pids, link state (exit 3 when down)
#   hosts.sh ip HOST             print HOST's address
#   hosts.sh list                print the host names, one a line
#   hosts.sh link HOST up|down   plug/unplug HOST's cable (its bridge port); packets are dropped, not refused
#   hosts.sh check               verify names, TCP between hosts, loopback and pid isolation, no route out
#
# A host = network namespace "$TSP_RIG_NS_PREFIX$HOST" whose eth0 has $TSP_RIG_SUBNET.(10+i)/24 on the
# bridge $TSP_RIG_BRIDGE, plus one "host init" that is PID 1 of the host's own pid namespace and owns
# its hostname (UTS) and mount namespace. `exec` joins those with nsenter, so everything started on a
# host (sshd, slurmd, test processes) shares one pid space and sees no other host's processes.
# Isolation: the bridge has no physical port, no NAT, no default route on any host, ip_forward is not
# touched; the /24 exists only on this bridge. Every host sees its own /etc/hosts (a bind mount in its
# mount namespace naming every rig host), so the machine's /etc/hosts is never edited.
# The machine itself (root namespace) gets $TSP_RIG_SUBNET.1 on the bridge (TSP_RIG_ROOT_IP=none: no
# address) so that test runners and scheduler clients on the machine (ssh, sbatch, squeue) reach the
# hosts; tests that mean "another host" run their client on head instead.
# $TSP_RIG_SHARED (mode 1777) is the cluster's shared file system: every host sees the same directory.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HDIR=$TSP_RIG_DIR/hosts
ROOT_IP=${TSP_RIG_ROOT_IP:-$TSP_RIG_SUBNET.1}

list_hosts() { [ -f "$HDIR/hosts.list" ] && awk '{print $1}' "$HDIR/hosts.list"; }
host_ip()    { awk -v h="$1" '$1==h{print $2}' "$HDIR/hosts.list" 2>/dev/null; }
host_veth()  { awk -v h="$1" '$1==h{print "'"$TSP_RIG_VETH_PREFIX"'"$3}' "$HDIR/hosts.list" 2>/dev/null; }
init_pid()   { cat "$HDIR/$1.pid" 2>/dev/null || true; }
host_alive() { pid_alive "$(init_pid "$1")" "tsparallel-rig-host:$1"; }
all_alive() {
  [ -f "$HDIR/hosts.list" ] || return 1
  local h; for h in $(list_hosts); do host_alive "$h" || return 1; done
  ip link show "$TSP_RIG_BRIDGE" >/dev/null 2>&1
}

# PID 1 of a host: hostname, its own /etc/hosts (bind mount, private to its mount namespace), then it
# sleeps and reaps orphans (every wait reaps any exited child: zombies last at most 5 s). $0 = marker (shows in ps), $1 = host name, $2 = hosts file.
INIT_SCRIPT='hostname "$1"; mount --bind "$2" /etc/hosts; trap "exit 0" TERM; while :; do sleep 5 & wait $!; done'

cmd_down() {
  need_root
  local h ns pid u names
  names=$( { list_hosts 2>/dev/null || true; ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^${TSP_RIG_NS_PREFIX}//p"; } | sort -u)
  for h in $names; do
    ns=$TSP_RIG_NS_PREFIX$h
    pid=$(init_pid "$h")
    # SIGKILL to a pid namespace's init makes the kernel kill every process in that namespace
    if pid_alive "$pid" "tsparallel-rig-host:$h"; then kill -KILL "$pid" 2>/dev/null || true; fi
    u=$(cat "$HDIR/$h.unshare.pid" 2>/dev/null || true)
    [ -z "$u" ] || wait_for 5 pid_gone "$u" || true
    if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns"; then
      # anything still in the network namespace but outside the pid namespace (plain `ip netns exec`)
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      wait_for 5 bash -c "[ -z \"\$(ip netns pids $ns 2>/dev/null)\" ]" || log "warning: processes remain in $ns"
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  ip link del "$TSP_RIG_BRIDGE" 2>/dev/null || true
  rm -rf "$HDIR"
  rmdir "$TSP_RIG_SHARED" 2>/dev/null || true     # the shared dir goes too, unless something was left in it
  echo "hosts: down"
}

cmd_up() {
  need_root
  local want=("$@")
  if [ ${#want[@]} -eq 0 ] && [ -z "${TSP_RIG_HOSTS:-}" ] && all_alive; then
    read -r -a want <<< "$(list_hosts | tr '\n' ' ')"
  fi
  [ ${#want[@]} -gt 0 ] || read -r -a want <<< "${TSP_RIG_HOSTS:-head node1 node2}"
  if all_alive && [ "$(list_hosts | tr '\n' ' ')" = "${want[*]} " ]; then
    echo "hosts: already up (${want[*]}) on $TSP_RIG_SUBNET.0/24"; return 0
  fi
  [ ${#want[@]} -le 200 ] || die "too many hosts (at most 200)"
  command -v ip >/dev/null || apt_install iproute2
  command -v nsenter >/dev/null && command -v unshare >/dev/null && command -v setpriv >/dev/null || apt_install util-linux
  if ip -4 route show "$TSP_RIG_SUBNET.0/24" 2>/dev/null | grep -q . && ! ip link show "$TSP_RIG_BRIDGE" >/dev/null 2>&1; then
    die "$TSP_RIG_SUBNET.0/24 is already routed on this machine ($(ip -4 route show "$TSP_RIG_SUBNET.0/24")); pick another with TSP_RIG_SUBNET=10.77.N"
  fi
  cmd_down >/dev/null
  local t0; t0=$(now_ms)
  mkdir -p "$HDIR" "$TSP_RIG_SHARED"
  chmod 1777 "$TSP_RIG_SHARED"
  : > "$HDIR/hosts.list"
  local i=0 h
  for h in "${want[@]}"; do
    [[ $h =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad host name: $h"
    echo "$h $TSP_RIG_SUBNET.$((10 + i)) $i" >> "$HDIR/hosts.list"; i=$((i + 1))
  done
  { printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    awk '{print $2"\t"$1}' "$HDIR/hosts.list"; } > "$HDIR/etc-hosts"
  ip link add name "$TSP_RIG_BRIDGE" type bridge
  echo 1 > "/proc/sys/net/ipv6/conf/$TSP_RIG_BRIDGE/disable_ipv6" 2>/dev/null || true
  [ "$ROOT_IP" = none ] || ip addr add "$ROOT_IP/24" dev "$TSP_RIG_BRIDGE"
  ip link set "$TSP_RIG_BRIDGE" up
  local ns ipaddr idx veth u pid
  while read -r h ipaddr idx; do
    ns=$TSP_RIG_NS_PREFIX$h; veth=$TSP_RIG_VETH_PREFIX$idx
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    echo 1 > "/proc/sys/net/ipv6/conf/$veth/disable_ipv6" 2>/dev/null || true
    ip link set "$veth" master "$TSP_RIG_BRIDGE" up
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6' 2>/dev/null || true
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ipaddr/24" dev eth0
    ip -n "$ns" link set eth0 up
    setsid ip netns exec "$ns" unshare --pid --fork --kill-child --mount-proc --uts -- \
      /bin/bash -c "$INIT_SCRIPT" "tsparallel-rig-host:$h" "$h" "$HDIR/etc-hosts" </dev/null >/dev/null 2>&1 &
    u=$!
    echo "$u" > "$HDIR/$h.unshare.pid"
    # /proc/PID/task/PID/children reads as size 0, so test -s would always fail: read it
    wait_for 10 grep -q . "/proc/$u/task/$u/children" || die "host init for $h did not start"
    pid=$(awk '{print $1}' "/proc/$u/task/$u/children")
    wait_for 10 pid_alive "$pid" "tsparallel-rig-host:$h" || die "host init for $h did not start"
    echo "$pid" > "$HDIR/$h.pid"
    wait_for 10 bash -c "[ \"\$(nsenter -t $pid -u hostname)\" = $h ] && nsenter -t $pid -m grep -q '\\b$h\$' /etc/hosts" \
      || die "hostname or /etc/hosts of $h not set"
  done < "$HDIR/hosts.list"
  echo "hosts: up (${want[*]}) on $TSP_RIG_SUBNET.0/24, bridge $TSP_RIG_BRIDGE, machine ${ROOT_IP}, shared dir $TSP_RIG_SHARED, $(( $(now_ms) - t0 )) ms"
}

cmd_exec() {
  [ $# -ge 1 ] || die "usage: hosts.sh exec HOST [CMD...]"
  local h=$1; shift
  local pid; pid=$(init_pid "$h")
  pid_alive "$pid" "tsparallel-rig-host:$h" || die "host '$h' is not up (run: scripts/rig/hosts.sh up)"
  [ $# -gt 0 ] || set -- /bin/bash
  # exec: the caller's pid becomes nsenter's; setpriv --pdeathsig makes the command get SIGTERM when
  # nsenter dies, so killing the pid the caller holds does not leave the command running on the host.
  exec nsenter -t "$pid" --net --pid --uts --mount --wd="$PWD" -- setpriv --pdeathsig TERM -- "$@"
}

cmd_status() {
  [ -f "$HDIR/hosts.list" ] || { echo "hosts: down"; return 3; }
  local h ipaddr idx st rc=0 link
  while read -r h ipaddr idx; do
    if host_alive "$h"; then st="up init_pid=$(init_pid "$h")"; else st=DEAD; rc=1; fi
    link=$(ip -br link show "$TSP_RIG_VETH_PREFIX$idx" 2>/dev/null | awk '{print $2}')
    printf '%-10s %-15s %s link=%s\n' "$h" "$ipaddr" "$st" "${link:-none}"
  done < "$HDIR/hosts.list"
  return $rc
}

cmd_link() {
  need_root
  local h=${1:-} state=${2:-}
  [ -n "$h" ] && { [ "$state" = up ] || [ "$state" = down ]; } || die "usage: hosts.sh link HOST up|down"
  local veth; veth=$(host_veth "$h"); [ -n "$veth" ] || die "unknown host $h"
  # the bridge side of the host's cable: the host keeps its address and route, packets just vanish
  ip link set "$veth" "$state"
  [ "$state" = down ] || ip link set "$veth" master "$TSP_RIG_BRIDGE"
  # when the cable changed (a builtin: no process to wait for on a loaded machine), for tests that time a fault
  echo "hosts: link $h $state at ${EPOCHREALTIME/,/.}"
}

cmd_check() {
  need_root
  all_alive || cmd_up
  local hs; read -r -a hs <<< "$(list_hosts | tr '\n' ' ')"
  [ ${#hs[@]} -ge 2 ] || die "check needs at least 2 hosts"
  local a=${hs[0]} b=${hs[1]} fail=0 self=$RIG_HERE/hosts.sh bip; bip=$(host_ip "$b")
  ok()  { echo "  ok   $*"; }
  bad() { echo "  FAIL $*"; fail=1; }
  [ "$("$self" exec "$b" hostname)" = "$b" ] && ok "hostname on $b is $b" || bad "hostname on $b"
  [ "$("$self" exec "$a" getent hosts "$b" | awk '{print $1}')" = "$bip" ] && ok "$a resolves $b -> $bip" || bad "name resolution of $b on $a"
  local srv='require("net").createServer(s=>s.end("hello from "+require("os").hostname())).listen(+process.argv[1],process.argv[2])'
  local cli='const s=require("net").connect(+process.argv[1],process.argv[2]);let d="";s.setTimeout(2000,()=>process.exit(2));s.on("data",x=>d+=x).on("end",()=>{console.log(d)}).on("error",e=>{console.log(e.code);process.exit(1)})'
  "$self" exec "$b" node -e "$srv" 8000 0.0.0.0 & local s1=$!
  "$self" exec "$b" node -e "$srv" 8001 127.0.0.1 & local s2=$!
  local out
  if wait_for 10 "$self" exec "$a" node -e "$cli" 8000 "$b"; then ok "TCP $a -> $b:8000: $("$self" exec "$a" node -e "$cli" 8000 "$b")"; else bad "TCP $a -> $b:8000"; fi
  wait_for 10 "$self" exec "$b" node -e "$cli" 8001 127.0.0.1 && ok "$b reaches its own 127.0.0.1:8001" || bad "$b own loopback"
  out=$("$self" exec "$a" node -e "$cli" 8001 127.0.0.1 || true)
  [ "$out" = ECONNREFUSED ] && ok "$a cannot reach $b's 127.0.0.1:8001 ($out)" || bad "$a reaches $b's loopback: $out"
  "$self" exec "$a" bash -c 'ip route | grep -q default' && bad "$a has a default route" || ok "$a has no default route: $("$self" exec "$a" ip -4 route | tr '\n' ';')"
  out=$("$self" exec "$a" node -e "$cli" 53 192.0.2.1 || true)
  [ "$out" = ENETUNREACH ] && ok "$a -> 192.0.2.1: $out" || bad "$a -> 192.0.2.1: $out"
  kill "$s1" "$s2" 2>/dev/null; wait "$s1" "$s2" 2>/dev/null || true
  local bpid acmd; bpid=$("$self" exec "$b" bash -c 'sleep 300 >/dev/null 2>&1 & echo $!')
  acmd=$("$self" exec "$a" cat "/proc/$bpid/cmdline" 2>/dev/null | tr '\0' ' ' || true)
  [ "$acmd" != "sleep 300 " ] && ok "$b's pid $bpid (sleep 300) is ${acmd:+another process on $a ($acmd)}${acmd:-not there on $a}" || bad "$a sees $b's pid"
  "$self" exec "$b" kill "$bpid"
  [ $fail = 0 ] || die "hosts check failed"
  echo "hosts: check passed (${hs[*]})"
}

case "${1:-}" in
  up)     shift; cmd_up "$@" ;;
  down)   cmd_down ;;
  exec)   shift; cmd_exec "$@" ;;
  status) cmd_status ;;
  ip)     [ -n "${2:-}" ] || die "usage: hosts.sh ip HOST"; i=$(host_ip "$2"); [ -n "$i" ] || die "unknown host $2 (is the rig up?)"; echo "$i" ;;
  list)   list_hosts ;;
  link)   shift; cmd_link "$@" ;;
  check)  cmd_check ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
