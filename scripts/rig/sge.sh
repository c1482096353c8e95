#!/usr/bin/env bash
# sge.sh — a real Grid Engine (Debian's Son of Grid Engine 8.1.9, gridengine-*) on the rig hosts (scripts/rig/hosts.sh).
#
#   sge.sh up       hosts.sh up (if needed); sge_qmaster on the first host (head), sge_execd on every other host
#                   (node1, node2), queue all.q; waits until a job really runs
#   sge.sh down     delete the jobs, stop the daemons and any job left behind, by pid
#   sge.sh status   qstat -f (every queue instance and job)
#   sge.sh check    up (if needed) and verify qsub/array/-terse/qstat/qdel/qacct/h_rt
#
# Clients (qsub, qstat, qdel, qacct, qconf) must run ON a rig host, e.g. `hosts.sh exec head qsub job.sh`: the
# qmaster accepts requests only from hosts it knows by name, and the machine's bridge address has none.
# Debian's wrappers (/usr/bin/qsub → gridengine-wrapper) set SGE_ROOT=/var/lib/gridengine and SGE_CELL=default.
# Settings made at each up (the cell itself is built by the package's postinst, with the master name preseeded):
# min_uid/min_gid 0 (jobs run as root), a 1 s scheduling interval with scheduling on submit and finish (the
# default is 15 s), accounting flushed at once (qacct sees a job as soon as it ended; the default waits 15 s),
# queue all.q on the nodes with $SGE_SLOTS (default 8) slots each, shell /bin/sh, no parallel environment, no load
# threshold (a busy machine would put every queue instance in alarm state 'a' and no job would start).
# Pid files (the host's pids): $TSP_RIG_DIR/sge/{qmaster.HOST,execd.HOST}.pid. Logs: the daemons' own
# `messages` files, in /var/spool/gridengine/qmaster and /var/spool/gridengine/execd/HOST.
# One Grid Engine per machine (its cell and spool are the package's), like Slurm.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
GDIR=$TSP_RIG_DIR/sge
QSPOOL=/var/spool/gridengine/qmaster
ESPOOL=/var/spool/gridengine/execd
SLOTS=${SGE_SLOTS:-8}
PACKAGES=(gridengine-master gridengine-exec gridengine-client)

ctl_host()   { host_list | head -1; }
node_hosts() { host_list | tail -n +2; }

# pid_on HOST PIDFILE MARKER: print the pid in PIDFILE (as seen on HOST) if that process is alive and matches
pid_on() {
  local h=$1 f=$2 m=$3 p
  p=$(cat "$f" 2>/dev/null) || return 1
  [ -n "$p" ] || return 1
  on "$h" grep -q -- "$m" "/proc/$p/cmdline" 2>/dev/null || return 1
  echo "$p"
}

# the machine's own (root pid namespace) processes named NAME: a postinst that started a daemon despite policy-rc.d
machine_pids() { local n; for n in "$@"; do pgrep -x --ns $$ --nslist pid "$n" 2>/dev/null || true; done; }

install_packages() {
  local missing=0 p
  for p in "${PACKAGES[@]}"; do installed "$p" || missing=1; done
  [ $missing = 1 ] || return 0
  # gridengine-common's postinst builds the cell when told to, for the master named here (our first host)
  command -v debconf-set-selections >/dev/null || die "debconf-set-selections missing (package debconf)"
  printf '%s\n' "gridengine-common shared/gridenginemaster string $(ctl_host)" \
    "gridengine-common shared/gridenginecell string $SGE_CELL" \
    "gridengine-common shared/gridengineconfig boolean true" | debconf-set-selections
  apt_install "${PACKAGES[@]}"
  # lib.sh's policy-rc.d keeps postinst scripts from starting services (gridengine pulls in exim4); check anyway
  local left; left=$(machine_pids exim4 sge_qmaster sge_execd | tr '\n' ' ')
  if [ -n "${left// /}" ]; then
    log "the install started processes on the machine ($left): stopping them"
    kill $left 2>/dev/null || true
  fi
}

# qconf_edit HOST SED_EXPR QCONF_ARGS...: run `qconf ARGS` on HOST with an EDITOR that applies SED_EXPR
qconf_edit() {
  local h=$1 expr=$2; shift 2
  local ed; ed=$(mktemp "$GDIR/editor.XXXXXX")
  printf '#!/bin/bash\nexec sed -i -e %q "$1"\n' "$expr" > "$ed"; chmod 700 "$ed"
  local rc=0 out; out=$(on "$h" env EDITOR="$ed" qconf "$@" 2>&1) || rc=$?
  rm -f "$ed"
  # an edit that changes nothing (a second up) is refused with "configuration unchanged": that is fine
  [ $rc = 0 ] || grep -qiE 'unchanged|no modification' <<< "$out" || { printf '%s\n' "$out" >&2; return $rc; }
}

# global and scheduler configuration, every host an admin and submit host (before any execd starts: an execd
# reads the global configuration, min_uid included, once, when it starts)
configure() {
  local ch=$1 hosts; hosts=$(host_list | paste -sd, -)
  qconf_edit "$ch" 's/^min_uid .*/min_uid 0/; s/^min_gid .*/min_gid 0/; s/^reporting_params .*/reporting_params accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00/' -mconf global \
    || die "could not set the global configuration"
  qconf_edit "$ch" 's/^schedule_interval .*/schedule_interval 0:0:1/; s/^flush_submit_sec .*/flush_submit_sec 1/; s/^flush_finish_sec .*/flush_finish_sec 1/' -msconf \
    || die "could not set the scheduler configuration"
  # one call: a host already on a list is a message, not an error worth a round trip per host
  on "$ch" bash -c "qconf -ah $hosts; qconf -as $hosts; qconf -sh | grep -qx '$(node_hosts | tail -1)'" >/dev/null 2>&1 \
    || die "could not make $hosts admin and submit hosts"
}

# queue all.q on the exec hosts (created, or brought back to these settings)
make_queue() {
  local ch=$1 nodes; nodes=$(node_hosts | tr '\n' ' ')
  local expr="s/^hostlist .*/hostlist ${nodes% }/; s/^slots .*/slots $SLOTS/; s|^shell .*|shell /bin/sh|; s/^shell_start_mode .*/shell_start_mode unix_behavior/; s/^pe_list .*/pe_list NONE/; s/^load_thresholds .*/load_thresholds NONE/"
  qconf_edit "$ch" "$expr" -mq all.q 2>/dev/null || qconf_edit "$ch" "$expr" -aq all.q || die "could not add queue all.q"
  on "$ch" qmod -c 'all.q' >/dev/null 2>&1 || true        # clear an error state left by an earlier run
}

# every node's queue instance is ready: its execd reported an architecture and it has no state (u, a, E, d, …)
queues_ready() {
  local want ready; want=$(node_hosts | wc -l)
  ready=$(on "$1" qstat -f -q all.q 2>/dev/null | grep -cE '^all\.q@\S+ +BI[PC]* +[0-9]+/[0-9]+/[0-9]+ +\S+ +lx-amd64 *$') || true
  [ "${ready:-0}" -ge "$want" ]
}
qmaster_up() { local ch; ch=$(ctl_host); pid_on "$ch" "$GDIR/qmaster.$ch.pid" sge_qmaster >/dev/null && on "$ch" qstat >/dev/null 2>&1; }
execd_up()   { pid_on "$1" "$GDIR/execd.$1.pid" sge_execd >/dev/null; }

# wait for a daemon's own pid file (written once it daemonized) on HOST, then keep the pid under our name
record_pid() {
  local h=$1 src=$2 name=$3 marker=$4
  wait_for 20 bash -c "p=\$(cat '$src' 2>/dev/null) && '$HOSTS_SH' exec $h grep -q $marker /proc/\$p/cmdline" \
    || die "$marker did not start on $h (see $(dirname "$src")/messages)"
  cp "$src" "$GDIR/$name.$h.pid"
}

cmd_up() {
  need_root
  "$HOSTS_SH" up >/dev/null
  install_packages
  mkdir -p "$GDIR"
  local ch; ch=$(ctl_host)
  [ -n "$(node_hosts)" ] || die "need at least 2 hosts (qmaster + exec hosts)"
  local running=1 n t0; t0=$(now_ms)
  qmaster_up || running=0
  for n in $(node_hosts); do execd_up "$n" || running=0; done
  if [ $running = 1 ] && queues_ready "$ch"; then
    echo "sge: already up (qmaster on $ch, execd on $(node_hosts | tr '\n' ' '))"; return 0
  fi
  cmd_down >/dev/null 2>&1 || true                        # clean partial state
  mkdir -p "$GDIR"
  echo "$ch" > "$SGE_ROOT/$SGE_CELL/common/act_qmaster"
  rm -f "$QSPOOL/qmaster.pid" "$QSPOOL/lock"
  on "$ch" /usr/sbin/sge_qmaster || die "sge_qmaster failed on $ch (see $QSPOOL/messages)"
  record_pid "$ch" "$QSPOOL/qmaster.pid" qmaster sge_qmaster
  wait_for 30 on "$ch" qstat || die "qmaster not answering (see $QSPOOL/messages)"
  configure "$ch"
  for n in $(node_hosts); do
    rm -f "$ESPOOL/$n/execd.pid"
    on "$n" /usr/sbin/sge_execd || die "sge_execd failed on $n (see $ESPOOL/$n/messages)"
    record_pid "$n" "$ESPOOL/$n/execd.pid" execd sge_execd
  done
  make_queue "$ch"
  wait_for 40 queues_ready "$ch" || { on "$ch" qstat -f >&2; die "exec hosts not ready (see $ESPOOL/*/messages)"; }
  # readiness = a job really runs (as root: min_uid reached the execds)
  local d j; d=$(mktemp -d "$TSP_RIG_SHARED/sge-warmup.XXXXXX")
  j=$(cd "$d" && on "$ch" qsub -terse -cwd -j y -o "$d" -N rig-warmup -b y true) || die "qsub of the warm-up job failed"
  wait_for 30 bash -c "! '$HOSTS_SH' exec $ch qstat | grep -q '^ *$j '" || die "warm-up job $j did not run: $(on "$ch" qstat -j "$j" 2>&1 | tail -5)"
  rm -rf "$d"
  echo "sge: up in $(( $(now_ms) - t0 )) ms: qmaster on $ch, execd on $(node_hosts | tr '\n' ' ')(queue all.q, $SLOTS slots each); clients on a host: hosts.sh exec $ch qsub …"
}

# kill pid P on host H and, first, all of its descendants (as seen on H)
kill_tree_on() {
  local h=$1 p=$2
  on "$h" bash -c '
    kids() { local c; for c in $(cat /proc/$1/task/*/children 2>/dev/null); do kids $c; echo $c; done; }
    all="$(kids '"$p"') '"$p"'"; kill -TERM $all 2>/dev/null; sleep 1; kill -KILL $all 2>/dev/null; true'
}

# stop_daemon HOST NAME MARKER: TERM the recorded pid, KILL it after 15 s
stop_daemon() {
  local h=$1 name=$2 marker=$3 p
  p=$(pid_on "$h" "$GDIR/$name.$h.pid" "$marker") || { rm -f "$GDIR/$name.$h.pid"; return 0; }
  on "$h" kill "$p" 2>/dev/null || true
  wait_for 15 bash -c "! '$HOSTS_SH' exec $h grep -q $marker /proc/$p/cmdline" || on "$h" kill -KILL "$p" 2>/dev/null || true
  rm -f "$GDIR/$name.$h.pid"
}

cmd_down() {
  need_root
  if ! "$HOSTS_SH" status >/dev/null 2>&1; then echo "sge: down (hosts are down)"; return 0; fi
  local ch n p; ch=$(ctl_host)
  if qmaster_up; then
    local jobs; jobs=$(on "$ch" qstat -u '*' 2>/dev/null | awk 'NR > 2 {print $1}' | sort -u | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      on "$ch" qdel -f $jobs >/dev/null 2>&1 || true
      wait_for 20 bash -c "[ -z \"\$('$HOSTS_SH' exec $ch qstat -u '*' 2>/dev/null)\" ]" || log "jobs still listed after qdel: $jobs"
    fi
  fi
  for n in $(node_hosts); do
    stop_daemon "$n" execd sge_execd
    # job shepherds (and their jobs) that outlived their execd
    for p in $(on "$n" pgrep -x sge_shepherd 2>/dev/null || true); do kill_tree_on "$n" "$p"; done
  done
  stop_daemon "$ch" qmaster sge_qmaster
  rm -f "$GDIR"/editor.*
  echo "sge: down"
}

cmd_status() {
  qmaster_up || { echo "sge: down"; return 3; }
  on "$(ctl_host)" qstat -f -u '*'
}

cmd_check() {
  cmd_up
  local ch fail=0 d out j a t0; ch=$(ctl_host)
  ok()  { echo "  ok   $*"; }
  bad() { echo "  FAIL $*"; fail=1; }
  gone() { ! on "$ch" qstat | grep -q "^ *$1 "; }
  d=$(mktemp -d "$TSP_RIG_SHARED/sge-check.XXXXXX"); cd "$d"
  printf '#!/bin/sh\necho "task ${SGE_TASK_ID} of job $JOB_ID on $(hostname)"\n' > j.sh
  # 1. a job and an array job, ids from -terse
  t0=$(now_ms)
  j=$(on "$ch" qsub -terse -j y -o "$d/\$JOB_NAME.\$JOB_ID.\$TASK_ID" "$d/j.sh")
  a=$(on "$ch" qsub -terse -t 1-3 -j y -o "$d/\$JOB_NAME.\$JOB_ID.\$TASK_ID" "$d/j.sh")
  [[ $j =~ ^[0-9]+$ ]] && [[ $a =~ ^[0-9]+\.1-3:1$ ]] && ok "qsub -terse: '$j', array '$a'" || bad "qsub -terse printed '$j' and '$a'"
  a=${a%%.*}
  wait_for 60 bash -c "! '$HOSTS_SH' exec $ch qstat | grep -qE '^ *($j|$a) '" || bad "jobs $j $a did not finish"
  out=$(cat j.sh.* 2>/dev/null | sort | tr '\n' ';')
  [ "$(cat j.sh.* 2>/dev/null | wc -l)" = 4 ] && ok "job + array 1-3 done in $(( $(now_ms) - t0 )) ms: $out" || bad "output: $out"
  # 2. accounting at once
  wait_for 10 on "$ch" qacct -j "$a" && ok "qacct -j $a: $(on "$ch" qacct -j "$a" | grep -cE '^taskid') task records, exit_status $(on "$ch" qacct -j "$a" | awk '/^exit_status/{print $2}' | sort -u | tr '\n' ' ')" || bad "qacct has no record of $a"
  # 3. qdel of a running job: gone from qstat, nothing left on the node
  j=$(on "$ch" qsub -terse -j y -o /dev/null -b y sleep 600)
  wait_for 30 bash -c "'$HOSTS_SH' exec $ch qstat | grep -qE '^ *$j .* r '" || bad "job $j not running"
  local node; node=$(on "$ch" qstat | awk -v j="$j" '$1 == j {sub(/.*@/, "", $8); print $8}')
  ok "qstat: $(on "$ch" qstat | awk -v j="$j" '$1 == j' | tr -s ' ')"
  t0=$(now_ms); on "$ch" qdel "$j" >/dev/null
  wait_for 30 gone "$j" || bad "job $j still listed after qdel"
  wait_for 15 bash -c "! '$HOSTS_SH' exec ${node:-node1} pgrep -f '^sleep 600'" && ok "qdel $j: gone from qstat and no 'sleep 600' left on $node in $(( $(now_ms) - t0 )) ms" || bad "sleep left on $node"
  wait_for 10 on "$ch" qacct -j "$j" && ok "qacct -j $j after qdel: failed $(on "$ch" qacct -j "$j" | awk '/^failed/{$1=""; print}' | xargs), exit_status $(on "$ch" qacct -j "$j" | awk '/^exit_status/{print $2}')" || bad "no accounting for $j"
  # 4. h_rt: a job past its hard run-time limit is killed
  j=$(on "$ch" qsub -terse -j y -o /dev/null -l h_rt=0:0:3 -b y sleep 600)
  t0=$(now_ms)
  wait_for 60 gone "$j" && ok "h_rt=0:0:3: job $j ended after $(( $(now_ms) - t0 )) ms, exit_status $(on "$ch" qacct -j "$j" 2>/dev/null | awk '/^exit_status/{print $2}')" || bad "h_rt did not end job $j"
  cd /; rm -rf "$d"
  [ $fail = 0 ] || die "sge check failed"
  echo "sge: check passed"
}

case "${1:-}" in
  up) cmd_up ;; down) cmd_down ;; status) cmd_status ;; check) cmd_check ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
