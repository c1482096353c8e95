#!/usr/bin/env bash
# all.sh — the whole rig at once (see scripts/rig/README.md).
#   all.sh up      hosts + sshd + slurm + Grid Engine up (Open MPI needs nothing running: eval "$(scripts/rig/mpi.sh env)")
#   all.sh down    Grid Engine, slurm, sshd, hosts down: no namespace, bridge or daemon left
#   all.sh check   hosts, sshd, mpi, slurm and Grid Engine checks (bringing things up as needed)
#   all.sh status  hosts, sshd, slurm and Grid Engine status
# TSP_RIG_NO_SLURM=1 / TSP_RIG_NO_SGE=1 leave Slurm / Grid Engine out (each is one per machine: a second rig on
# the same machine must not start another).
set -euo pipefail
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# true when that scheduler is left out
no_slurm() { [ "${TSP_RIG_NO_SLURM:-}" = 1 ]; }
no_sge()   { [ "${TSP_RIG_NO_SGE:-}" = 1 ]; }
# Slurm and Grid Engine share nothing but the hosts, so they come up side by side (apt waits on dpkg's lock)
schedulers_up() {
  local s=0 rc=0
  if ! no_slurm; then "$D/slurm.sh" up & s=$!; fi
  no_sge || "$D/sge.sh" up || rc=1
  [ "$s" = 0 ] || wait "$s" || rc=1
  return $rc
}
case "${1:-}" in
  up)     "$D/hosts.sh" up && "$D/sshd.sh" up && "$D/mpi.sh" install >/dev/null && schedulers_up ;;
  down)   rc=0; no_sge || "$D/sge.sh" down || rc=1; no_slurm || "$D/slurm.sh" down || rc=1; "$D/sshd.sh" down || rc=1; "$D/hosts.sh" down || rc=1; exit $rc ;;
  check)  "$D/hosts.sh" check && "$D/sshd.sh" check && "$D/mpi.sh" check && { no_slurm || "$D/slurm.sh" check; } && { no_sge || "$D/sge.sh" check; } ;;
  status) "$D/hosts.sh" status; "$D/sshd.sh" status || true
          no_slurm || "$D/slurm.sh" status 2>/dev/null || echo "slurm: down"
          no_sge || "$D/sge.sh" status 2>/dev/null || true ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
