#!/usr/bin/env bash
# mpi.sh — Open MPI (Debian openmpi-bin, 4.1.x) on the rig.
#
#   mpi.sh install   install openmpi-bin if missing
#   mpi.sh env       print export lines for mpiexec on the rig (as root, ssh through the rig's config,
#                    traffic kept on the rig's /24, oversubscription allowed): eval "$(scripts/rig/mpi.sh env)"
#   mpi.sh check     mpiexec -n 4 locally, and from head across node1/node2 over ssh; nothing left after
#
# Gotchas: ranks' stdout is a pty even when piped (set FORCE_COLOR=0, forwarded with -x); -n above the
# core count needs oversubscription; mpiexec listens on every interface, so the if_include settings
# keep its out-of-band and TCP traffic on the rig's subnet.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mpi_env() {
  cat <<EOF
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm_rsh_agent="ssh -F $TSP_RIG_DIR/ssh/config"
export OMPI_MCA_oob_tcp_if_include=$TSP_RIG_SUBNET.0/24 OMPI_MCA_btl_tcp_if_include=$TSP_RIG_SUBNET.0/24
export OMPI_MCA_rmaps_base_oversubscribe=1
export FORCE_COLOR=0
EOF
}

JS='const e=process.env; console.log([require("os").hostname(), "rank="+e.OMPI_COMM_WORLD_RANK+"/"+e.OMPI_COMM_WORLD_SIZE].join(" "))'

expect_ranks() {  # expect_ranks N OUTPUT
  local n=$1 out=$2 r
  for ((r = 0; r < n; r++)); do grep -q "rank=$r/$n" <<< "$out" || return 1; done
}

cmd_check() {
  need_root
  apt_install openmpi-bin
  command -v node >/dev/null || die "node not found"
  local fail=0 out
  out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 60 \
        mpiexec --oversubscribe --mca oob_tcp_if_include lo --mca btl_tcp_if_include lo -n 4 node -e "$JS" 2>&1) || true
  expect_ranks 4 "$out" && echo "  ok   local mpiexec -n 4: $(sort <<< "$out" | tr '\n' ';')" || { echo "  FAIL local mpiexec: $out"; fail=1; }
  "$RIG_HERE/sshd.sh" up >/dev/null
  local hs; read -r -a hs <<< "$(host_list | tr '\n' ' ')"
  local targets="${hs[1]}:2,${hs[2]:-${hs[1]}}:2"
  out=$(eval "$(mpi_env)"; cd "$TSP_RIG_SHARED" && timeout 60 "$HOSTS_SH" exec "${hs[0]}" mpiexec --host "$targets" -n 4 node -e "$JS" 2>&1) || true
  if expect_ranks 4 "$out" && [ "$(awk '{print $1}' <<< "$out" | sort -u | wc -l)" -ge 2 ]; then
    echo "  ok   ${hs[0]}: mpiexec --host $targets -n 4: $(sort <<< "$out" | tr '\n' ';')"
  else echo "  FAIL mpiexec from ${hs[0]} across hosts: $out"; fail=1; fi
  sleep 0.5
  local h left=""
  for h in "${hs[@]}"; do left+=$(on "$h" ps -eo args --no-headers | grep -E '^(orted|mpiexec|node -e)' || true); done
  [ -z "$left" ] && echo "  ok   no orted/rank left on the hosts" || { echo "  FAIL left: $left"; fail=1; }
  [ $fail = 0 ] || die "mpi check failed"
  echo "mpi: check passed (Open MPI $(mpiexec --version 2>/dev/null | head -1 | awk '{print $NF}'))"
}

case "${1:-}" in
  install) need_root; apt_install openmpi-bin; echo "mpi: installed" ;;
  env)     mpi_env ;;
  check)   cmd_check ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
