#!/usr/bin/env bash
# Stop the energybench dev cluster: slurmd, slurmctld, slurmdbd, MariaDB, munge -- in that order,
# and only the processes that up.sh itself started (recorded in $EB_CLUSTER_STATE/owned/).
# Anything else (a munged or MariaDB that was already running) is left alone. Idempotent.
set -euo pipefail

STATE=${EB_CLUSTER_STATE:-/var/tmp/energybench-devcluster}
OWNED=$STATE/owned
T0=$(date +%s)
say() { echo "[devcluster] $*"; }

if [[ ! -d $OWNED ]]; then
    say "nothing to stop (no $OWNED)"; say "cluster DOWN (nothing was started by up.sh)"; exit 0
fi
[[ $EUID -eq 0 ]] || { echo "[devcluster] ERROR: down.sh must run as root" >&2; exit 1; }
exec 9>>"$STATE/.lock"
flock -w 600 9 || { echo "[devcluster] ERROR: another up.sh/down.sh holds $STATE/.lock" >&2; exit 1; }

proc_start() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
alive() { [[ -d /proc/$1 ]] && [[ $(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) != Z ]]; }

stopped=() left=()
stop() {  # stop NAME TIMEOUT_S
    local name=$1 limit=$2 f=$OWNED/$1 pid st comm end
    [[ -s $f ]] || return 0
    read -r pid st comm <"$f" || { rm -f "$f"; return 0; }
    if ! alive "$pid" || [[ $(proc_start "$pid") != "$st" ]]; then
        rm -f "$f"; say "$name: not running (already exited)"; return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    end=$(( $(date +%s) + limit ))
    while alive "$pid" && [[ $(proc_start "$pid") == "$st" ]]; do
        if (( $(date +%s) >= end )); then
            say "$name: still running after ${limit}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true; sleep 1; break
        fi
        sleep 0.3
    done
    rm -f "$f"; stopped+=("$name"); say "$name: stopped (pid $pid)"
}

# Reverse start order. mysqld before mysqld_safe: a clean mysqld exit makes mysqld_safe exit too.
stop slurmd 30
stop slurmctld 30
stop slurmdbd 30
stop mysqld 60
stop mysqld_safe 15
stop munged 15
for f in "$OWNED"/*; do [[ -e $f ]] && left+=("$(basename "$f")"); done
if ((${#left[@]})); then say "WARNING: unknown records left in $OWNED: ${left[*]}"; fi
say "cluster DOWN: stopped ${#stopped[@]} process(es)${stopped:+ (${stopped[*]})} in $(( $(date +%s) - T0 )) s; anything not started by up.sh was left alone"
