#!/usr/bin/env bash
# all.sh — the whole rig at once (see scripts/rig/README.md).
#   all.sh up      hosts + sshd + slurm up (Open MPI needs nothing running: eval "$(scripts/rig/mpi.sh env)")
#   all.sh down    slurm, sshd, hosts down: no namespace, bridge or daemon left
#   all.sh check   hosts, sshd, mpi and slurm checks (bringing things up as needed)
#   all.sh status  hosts, sshd and slurm status
set -euo pipefail
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in
  up)     "$D/hosts.sh" up && "$D/sshd.sh" up && "$D/mpi.sh" install >/dev/null && "$D/slurm.sh" up ;;
  down)   rc=0; "$D/slurm.sh" down || rc=1; "$D/sshd.sh" down || rc=1; "$D/hosts.sh" down || rc=1; exit $rc ;;
  check)  "$D/hosts.sh" check && "$D/sshd.sh" check && "$D/mpi.sh" check && "$D/slurm.sh" check ;;
  status) "$D/hosts.sh" status; "$D/sshd.sh" status || true; "$D/slurm.sh" status 2>/dev/null || echo "slurm: down" ;;
  *) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
