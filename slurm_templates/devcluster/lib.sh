# Sourced by up.sh and down.sh: messages, and the bookkeeping of the processes and network
# objects that up.sh itself started or made ($OWNED, set by the caller). Defines functions only.

say() { echo "[devcluster] $*"; }
warn() { echo "[devcluster] WARNING: $*" >&2; }
die() { echo "[devcluster] ERROR: $*" >&2; exit 1; }

# --- processes: owned/<name> = "pid starttime comm" of what up.sh started
proc_start() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
alive() { [[ -n ${1:-} && -d /proc/$1 ]] && [[ $(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) != Z ]]; }
pidfile_pid() {  # pidfile_pid FILE [COMM]: the live pid a daemon's pid file names (and its comm matches)
    local p; [[ -s $1 ]] || return 1
    p=$(tr -dc '0-9' <"$1" 2>/dev/null); [[ -n $p ]] && alive "$p" || return 1
    [[ -z ${2:-} || $(cat "/proc/$p/comm" 2>/dev/null) == "$2" ]] || return 1
    echo "$p"
}
record() { echo "$2 $(proc_start "$2") $(cat "/proc/$2/comm" 2>/dev/null)" >"$OWNED/$1"; }
owned_pid() {  # prints the pid if owned/<name> names a live process with the recorded start time
    local f=$OWNED/$1 pid st comm
    [[ -s $f ]] || return 1
    read -r pid st comm <"$f" || return 1
    if alive "$pid" && [[ $(proc_start "$pid") == "$st" ]]; then echo "$pid"; return 0; fi
    rm -f "$f"; return 1
}
# held NODE: $STATE/held/<node> = "UNTIL PID STARTTIME" (written by a test that killed the node on purpose, e.g.
# tests/slurm/test_multinode.py): leave that node dead, and do not wait for it, until the epoch
# second UNTIL -- and only while the holder (PID, with that start time) lives: a hold left by a
# killed test session is void at once, not for the rest of its 15 minutes.
held() {
    local f=$STATE/held/$1 until='' pid='' st=''
    [[ -e $f ]] || return 1
    read -r until pid st 2>/dev/null <"$f" || true
    if [[ $until =~ ^[0-9]+$ ]] && (( until > $(date +%s) )) && [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" &&
        [[ $(proc_start "$pid") == "$st" ]]; then return 0; fi
    rm -f "$f"; return 1
}
STOPPED=()
stop_owned() {  # stop_owned NAME TIMEOUT_S: TERM (then KILL) the process owned/<NAME> names
    local name=$1 limit=$2 pid end
    pid=$(owned_pid "$name") || { [[ -e $OWNED/$name ]] && rm -f "$OWNED/$name"; return 0; }
    local st; st=$(proc_start "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    end=$(( $(date +%s) + limit ))
    while alive "$pid" && [[ $(proc_start "$pid") == "$st" ]]; do
        if (( $(date +%s) >= end )); then
            say "$name: still running after ${limit}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true; sleep 1; break
        fi
        sleep 0.2
    done
    rm -f "$OWNED/$name"; STOPPED+=("$name"); say "$name: stopped (pid $pid)"
}

# --- network: owned/net lists "bridge NAME" / "netns NAME" for every object up.sh created, and
# "mount /run/netns" when the first `ip netns add` made /run/netns a mount point
netns_of() { readlink "/proc/$1/ns/net" 2>/dev/null; }        # net:[inode] of a process
netns_id() { echo "net:[$(stat -L -c %i "/run/netns/$1" 2>/dev/null)]"; }  # the same for a named namespace
empty_netns() {  # empty_netns NAME: TERM, then KILL, every process still in the namespace (jobs of a node)
    local ns=$1 pids end
    pids=$(ip netns pids "$ns" 2>/dev/null | xargs) || true
    [[ -n $pids ]] || return 0
    say "netns $ns: stopping $(wc -w <<<"$pids") process(es) still in it (job steps): $pids"
    kill -TERM $pids 2>/dev/null || true   # slurmstepd ignores it: what is left after 2 s is KILLed, as on a dead node
    end=$(( $(date +%s) + 2 ))
    while [[ -n $(ip netns pids "$ns" 2>/dev/null) ]]; do
        if (( $(date +%s) >= end )); then kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null || true; sleep 0.5; break; fi
        sleep 0.2
    done
}
net_down() {  # remove every namespace, veth and bridge that owned/net records (namespaces emptied first)
    local f=$OWNED/net kind name
    [[ -s $f ]] || { rm -f "$f"; return 0; }
    while read -r kind name; do
        [[ $kind == netns && -e /run/netns/$name ]] || continue
        empty_netns "$name"
        ip link del "veth-$name" 2>/dev/null || true
        ip netns del "$name" || warn "could not delete netns $name"
    done < <(sort -u "$f")
    while read -r kind name; do
        case $kind in
            bridge) ! ip link show "$name" >/dev/null 2>&1 || ip link del "$name" || warn "could not delete bridge $name" ;;
            mount)  # only once no namespace is left in it (another tool's namespaces keep it)
                if mountpoint -q "$name" && [[ -z $(ls -A "$name") ]]; then
                    umount "$name" && rmdir "$name" 2>/dev/null || warn "could not unmount $name"
                fi ;;
        esac
    done < <(sort -u "$f")
    rm -f "$f"
}
