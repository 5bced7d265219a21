#!/usr/bin/env bash
# Stop the energybench dev cluster: the slurmd nodes, slurmctld, slurmdbd, MariaDB, munge -- in that
# order, and only the processes that up.sh itself started (recorded in $EB_CLUSTER_STATE/owned/);
# then whatever still runs in the nodes' network namespaces (job steps) and the namespaces, veth
# pairs and bridge up.sh made (owned/net). Anything else (a munged or MariaDB that was already
# running) is left alone. Idempotent.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${EB_CLUSTER_STATE:-/var/tmp/energybench-devcluster}
OWNED=$STATE/owned
T0=$(date +%s)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [[ ! -d $OWNED ]]; then
    say "nothing to stop (no $OWNED)"; say "cluster DOWN (nothing was started by up.sh)"; exit 0
fi
[[ $EUID -eq 0 ]] || die "down.sh must run as root"
exec 9>>"$STATE/.lock"
flock -w 600 9 || die "another up.sh/down.sh holds $STATE/.lock"

# Reverse start order. mysqld before mysqld_safe: a clean mysqld exit makes mysqld_safe exit too.
for f in "$OWNED"/slurmd "$OWNED"/slurmd-*; do [[ -e $f ]] && stop_owned "$(basename "$f")" 30; done
stop_owned slurmctld 30
net_down
stop_owned slurmdbd 30
stop_owned mysqld 60
stop_owned mysqld_safe 15
stop_owned munged 15
rm -f "$STATE/topology"
left=()
for f in "$OWNED"/*; do [[ -e $f ]] && left+=("$(basename "$f")"); done
if ((${#left[@]})); then warn "unknown records left in $OWNED: ${left[*]}"; fi
say "cluster DOWN: stopped ${#STOPPED[@]} process(es)${STOPPED:+ (${STOPPED[*]})} and the node network in $(( $(date +%s) - T0 )) s; anything not started by up.sh was left alone"
