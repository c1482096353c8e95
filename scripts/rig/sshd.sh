#!/usr/bin/env bash
# sshd.sh — a real OpenSSH sshd on every rig host (scripts/rig/hosts.sh), key-only root login.
#
#   sshd.sh up       hosts up (if needed), install openssh if missing, keys + configs, start sshd per host
#   sshd.sh down     stop the sshd daemons started here (by pid, inside each host)
#   sshd.sh status   which hosts run an sshd
#   sshd.sh check    up (if needed), then ssh from the machine and from head, in the target's pid namespace
#
# Client: ssh -F $TSP_RIG_DIR/ssh/config node1 hostname   (from the machine or from any host)
# Files in $TSP_RIG_DIR/ssh: config (client config), id_ed25519 (client key), known_hosts, authorized_keys,
# host_<host>_ed25519 (host keys), sshd_config, sshd.<host>.pid, sshd.<host>.log. Nothing goes in ~/.ssh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SDIR=$TSP_RIG_DIR/ssh

# sshd pid inside HOST (from its pid file) if that process is an sshd
sshd_pid() {
  local h=$1 p; p=$(cat "$SDIR/sshd.$h.pid" 2>/dev/null) || return 1
  on "$h" grep -q sshd "/proc/$p/cmdline" 2>/dev/null || return 1
  echo "$p"
}

write_configs() {
  mkdir -p "$SDIR" /run/sshd; chmod 700 "$SDIR"
  [ -f "$SDIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C tsparallel-rig -f "$SDIR/id_ed25519"
  cp "$SDIR/id_ed25519.pub" "$SDIR/authorized_keys"; chmod 600 "$SDIR/authorized_keys"
  : > "$SDIR/known_hosts.new"
  local h ip
  {
    echo "# ssh -F $SDIR/config HOST ...   (written by scripts/rig/sshd.sh)"
    for h in $(host_list); do
      ip=$("$HOSTS_SH" ip "$h")
      [ -f "$SDIR/host_${h}_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "tsparallel-rig-$h" -f "$SDIR/host_${h}_ed25519"
      echo "$h,$ip $(cut -d' ' -f1-2 "$SDIR/host_${h}_ed25519.pub")" >> "$SDIR/known_hosts.new"
      # HostName: the machine's own /etc/hosts does not know the rig's names
      printf 'Host %s\n  HostName %s\n' "$h" "$ip"
    done
    cat <<EOC
Host *
  User root
  Port 22
  IdentityFile $SDIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $SDIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  CheckHostIP no
  BatchMode yes
  PasswordAuthentication no
  ConnectTimeout 5
  ServerAliveInterval 15
  LogLevel ERROR
EOC
  } > "$SDIR/config.new"
  mv "$SDIR/known_hosts.new" "$SDIR/known_hosts"; mv "$SDIR/config.new" "$SDIR/config"
  cat > "$SDIR/sshd_config" <<EOF
Port 22
AddressFamily inet
ListenAddress 0.0.0.0
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile $SDIR/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
PermitUserEnvironment no
AcceptEnv TSPARALLEL_* LANG LC_*
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
}

cmd_up() {
  need_root
  apt_install openssh-server openssh-client
  "$HOSTS_SH" up >/dev/null
  local t0 h started=0; t0=$(now_ms)
  write_configs
  for h in $(host_list); do
    sshd_pid "$h" >/dev/null && continue
    rm -f "$SDIR/sshd.$h.pid"
    # sshd daemonizes on the host; its pid file holds the pid as seen on that host
    on "$h" /usr/sbin/sshd -f "$SDIR/sshd_config" -h "$SDIR/host_${h}_ed25519" \
      -o "PidFile=$SDIR/sshd.$h.pid" -E "$SDIR/sshd.$h.log" || die "sshd failed on $h (see $SDIR/sshd.$h.log)"
    started=$((started + 1))
  done
  for h in $(host_list); do
    wait_for 20 ssh -F "$SDIR/config" "$h" true || die "ssh to $h does not work (see $SDIR/sshd.$h.log)"
  done
  echo "sshd: up on $(host_list | tr '\n' ' ')(started $started) in $(( $(now_ms) - t0 )) ms; client: ssh -F $SDIR/config HOST CMD"
}

cmd_down() {
  need_root
  local h p n=0
  [ -d "$SDIR" ] && "$HOSTS_SH" status >/dev/null 2>&1 || { echo "sshd: down"; return 0; }
  for h in $(host_list); do
    if p=$(sshd_pid "$h"); then
      on "$h" kill "$p" 2>/dev/null || true
      wait_for 5 bash -c "! '$HOSTS_SH' exec '$h' test -e /proc/$p/cmdline" || on "$h" kill -KILL "$p" 2>/dev/null || true
      n=$((n + 1))
    fi
    rm -f "$SDIR/sshd.$h.pid"
  done
  # open sessions die with their connections; hosts.sh down kills whatever is left on the hosts
  echo "sshd: down (stopped $n)"
}

cmd_status() {
  local h p rc=0
  for h in $(host_list 2>/dev/null); do
    if p=$(sshd_pid "$h"); then echo "$h sshd pid $p (on $h)"; else echo "$h no sshd"; rc=1; fi
  done
  return $rc
}

cmd_check() {
  cmd_up >/dev/null
  local cfg=$SDIR/config fail=0 h hs out
  read -r -a hs <<< "$(host_list | tr '\n' ' ')"
  for h in "${hs[@]}"; do
    out=$(ssh -F "$cfg" "$h" hostname) && [ "$out" = "$h" ] && echo "  ok   machine: ssh $h hostname -> $out" || { echo "  FAIL ssh $h"; fail=1; }
  done
  out=$(on "${hs[0]}" ssh -F "$cfg" "${hs[1]}" 'echo $(hostname) $(hostname -i)') && echo "  ok   ${hs[0]}: ssh ${hs[1]} -> $out" || { echo "  FAIL ${hs[0]} -> ${hs[1]}"; fail=1; }
  out=$(ssh -F "$cfg" "${hs[1]}" "tr '\0' ' ' < /proc/1/cmdline")
  case $out in *"tsparallel-rig-host:${hs[1]}"*) echo "  ok   a session on ${hs[1]} runs in ${hs[1]}'s pid namespace";; *) echo "  FAIL pid ns: $out"; fail=1;; esac
  [ $fail = 0 ] || die "sshd check failed"
  echo "sshd: check passed"
}

case "${1:-}" in
  up) cmd_up ;; down) cmd_down ;; status) cmd_status ;; check) cmd_check ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
