#!/usr/bin/env bash
# Bring up the energybench dev SLURM cluster on this machine: munge, MariaDB, slurmdbd, slurmctld
# and four slurmd nodes, each in its own network and UTS namespace (nodes.conf.in) -- or, where
# namespaces cannot be made, one slurmd node (nodes-single.conf.in). Idempotent: a second run only
# checks and returns. Installs the Debian packages when they are missing (needs root). See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${EB_CLUSTER_STATE:-/var/tmp/energybench-devcluster}
CLUSTER=${EB_CLUSTER_NAME:-energybench}
TOPOLOGY=${EB_CLUSTER_TOPOLOGY:-multi}                    # multi | single
NET=${EB_CLUSTER_NET:-10.77.0}                            # the nodes' /24: bridge .1, nodes in nodes.conf.in
BRIDGE=eb-br0
NODE=${EB_CLUSTER_NODE:-ebnode1}                          # the single-node fallback's node
CPUS=${EB_CLUSTER_CPUS:-4}                                # CPUs each node advertises
GPUS=${EB_CLUSTER_GPUS:-4}                                # GPUs of the single-node fallback
MAXTIME=${EB_CLUSTER_MAXTIME:-60}
WAIT_S=${EB_CLUSTER_TIMEOUT:-120}
DB_PORT=${EB_CLUSTER_DB_PORT:-3307}
CTLD_PORT=${EB_CLUSTER_CTLD_PORT:-6817}
SLURMD_PORT=${EB_CLUSTER_SLURMD_PORT:-6818}
DBD_PORT=${EB_CLUSTER_DBD_PORT:-6819}
ETC_LINK=${EB_CLUSTER_ETC_LINK:-/etc/slurm/slurm.conf}   # set empty to not touch /etc
DB_NAME=slurm_acct_db
DB_USER=slurm
ACCOUNT=energybench

ETC=$STATE/etc RUN=$STATE/run LOG=$STATE/log OWNED=$STATE/owned
CONF=$ETC/slurm.conf
DBSOCK=$RUN/mysqld.sock
export SLURM_CONF=$CONF
T0=$(date +%s)
HEALTHY_RE='^(idle|mixed|allocated|completing)$'

# shellcheck source=lib.sh
. "$HERE/lib.sh"
tail_log() {  # tail_log FILE...: show the end of logs that explain a failure
    local f
    for f in "$@"; do
        [[ -f $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 40 "$f" >&2 || true
    done
}
fail() { local msg=$1; shift; tail_log "$@"; die "$msg"; }
owner() { if owned_pid "$1" >/dev/null; then echo "started by up.sh"; else echo "not started by up.sh, left alone"; fi; }
wait_for() {  # wait_for SECONDS CMD...: poll CMD every 0.5 s
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do (( $(date +%s) < end )) || return 1; sleep 0.5; done
}

# ---------------------------------------------------------------- state dir + lock (root only)
if [[ $EUID -eq 0 ]]; then
    mkdir -p "$ETC" "$RUN" "$LOG" "$OWNED" "$STATE/dev" "$STATE/spool/slurmctld"
    exec 9>>"$STATE/.lock"   # every daemon below is started with 9>&- so it does not inherit the lock
    flock -w 900 9 || die "another up.sh/down.sh holds $STATE/.lock"
fi

# ---------------------------------------------------------------- packages
PKGS=(slurm-wlm slurmctld slurmd slurm-client slurmdbd munge mariadb-server mariadb-client)
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null | awk '/ install ok installed$/ {print $1}' || true)
missing=()
for p in "${PKGS[@]}"; do grep -qx "$p" <<<"$installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || die "packages missing (${missing[*]}) and not root; run as root to install them"
    say "installing Debian packages: ${missing[*]}"
    t=$(date +%s)
    # Keep the packages' maintainer scripts from starting daemons (we start our own).
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    { apt-get update -q >"$STATE/apt.log" 2>&1 &&
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >>"$STATE/apt.log" 2>&1; } || rc=$?
    if [[ $(trap -p EXIT) ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
    ((rc == 0)) || fail "apt-get failed (rc=$rc)" "$STATE/apt.log"
    say "packages installed in $(( $(date +%s) - t )) s"
fi

# ---------------------------------------------------------------- not root: only check
if [[ $EUID -ne 0 ]]; then
    st=$(sinfo -h -N -o '%N %T' 2>/dev/null | sort -u | paste -sd, - || true)
    if [[ -n $st ]] && sinfo -h -N -o %T 2>/dev/null | grep -Eq "$HEALTHY_RE"; then
        say "cluster $CLUSTER UP (checked only, not root): nodes $st"; exit 0
    fi
    die "cluster not up (nodes: '${st:-no answer}') and starting it needs root"
fi

# ---------------------------------------------------------------- config
HOST=$(hostname -s 2>/dev/null || uname -n); HOST=${HOST%%.*}
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
if [[ ! -s $ETC/dbpass ]]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$ETC/dbpass")
fi
DB_PASS=$(cat "$ETC/dbpass")
NODE_RES="CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB State=UNKNOWN"
CTLD_ADDR=127.0.0.1
subst() {  # subst TEMPLATE: the template with every @KEY@ filled in, on stdout
    sed -e "s|@STATE@|$STATE|g" -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@CTLD_HOST@|$HOST|g" \
        -e "s|@CTLD_ADDR@|$CTLD_ADDR|g" -e "s|@NET@|$NET|g" -e "s|@NODE_RES@|$NODE_RES|g" \
        -e "s|@HOSTNAME@|$HOST|g" -e "s|@NODE@|$NODE|g" -e "s|@CPUS@|$CPUS|g" \
        -e "s|@MEM_MB@|$MEM_MB|g" -e "s|@GPUS@|$GPUS|g" -e "s|@GPU_MAX@|$((GPUS - 1))|g" \
        -e "s|@MAXTIME@|$MAXTIME|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        -e "s|@DBD_PORT@|$DBD_PORT|g" -e "s|@DB_PORT@|$DB_PORT|g" -e "s|@DB_USER@|$DB_USER|g" \
        -e "s|@DB_PASS@|$DB_PASS|g" -e "s|@DB_NAME@|$DB_NAME|g" "$1"
}
node_addrs() {  # node_addrs CONF_TEXT: "NAME ADDR" per NodeName line
    awk '/^NodeName=/ { n = a = ""; for (i = 1; i <= NF; i++) { split($i, kv, "=");
         if (kv[1] == "NodeName") n = kv[2]; if (kv[1] == "NodeAddr") a = kv[2] } print n, a }' <<<"$1"
}

# ---------------------------------------------------------------- topology: namespaces, or the fallback
net_up() {  # the bridge, and per node a namespace with a veth pair and its address; records what it makes
    local n a
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        echo "bridge $BRIDGE" >>"$OWNED/net"; ip link add "$BRIDGE" type bridge || return 1
    fi
    ip addr replace "$NET.1/24" dev "$BRIDGE" && ip link set "$BRIDGE" up || return 1
    while read -r n a; do
        if [[ ! -e /run/netns/$n ]]; then
            mountpoint -q /run/netns || echo "mount /run/netns" >>"$OWNED/net"
            echo "netns $n" >>"$OWNED/net"; ip netns add "$n" || return 1
        fi
        if ! ip link show "veth-$n" >/dev/null 2>&1; then
            ip -n "$n" link del eth0 2>/dev/null || true
            ip link add "veth-$n" type veth peer name eth0 netns "$n" || return 1
        fi
        ip link set "veth-$n" master "$BRIDGE" up && ip -n "$n" link set lo up &&
            ip -n "$n" addr replace "$a/24" dev eth0 && ip -n "$n" link set eth0 up || return 1
    done <<<"$(node_addrs "$1")"
}
MODE=single REASON=
if [[ $TOPOLOGY == multi ]]; then
    CTLD_ADDR=$NET.1
    nodes=$(subst "$HERE/nodes.conf.in")
    if net_up "$nodes" 2>"$LOG/net.err"; then
        MODE=multi
    else
        REASON="cannot make network namespaces ($(grep -v '^$' "$LOG/net.err" | tail -n1 || true))"
        net_down >/dev/null 2>&1 || true
        CTLD_ADDR=127.0.0.1
        warn "$REASON: falling back to the single-node cluster (node $NODE); the multi-node tests skip, or FAIL under CI=true"
    fi
elif [[ $TOPOLOGY == single ]]; then
    REASON="EB_CLUSTER_TOPOLOGY=single"
else
    die "EB_CLUSTER_TOPOLOGY=$TOPOLOGY: expected multi or single"
fi
[[ $MODE == multi ]] || nodes=$(subst "$HERE/nodes-single.conf.in")
NODES=$(node_addrs "$nodes")
NODE_NAMES=$(cut -d' ' -f1 <<<"$NODES" | xargs)
printf 'mode=%s\nnodes=%s\nreason=%s\n' "$MODE" "$NODE_NAMES" "$REASON" >"$STATE/topology.tmp"
mv -f "$STATE/topology.tmp" "$STATE/topology"   # the tests read it (tests/conftest.py)
for n in $NODE_NAMES; do mkdir -p "$STATE/spool/slurmd-$n"; done

changed=
render() {  # render TEMPLATE DEST MODE: fill in TEMPLATE (@NODES@: the chosen node layout) and write DEST if it differs
    local tmp; tmp=$(mktemp "$2.XXXX")
    subst "$1" | awk -v nodes="$nodes" '$0 == "@NODES@" { print nodes; next } { print }' >"$tmp"
    chmod "$3" "$tmp"
    if cmp -s "$tmp" "$2"; then rm -f "$tmp"; else mv -f "$tmp" "$2"; changed+=" $(basename "$2")"; fi
}
render "$HERE/slurm.conf.in" "$CONF" 644
render "$HERE/gres.conf.in" "$ETC/gres.conf" 644
render "$HERE/slurmdbd.conf.in" "$ETC/slurmdbd.conf" 600
cp -f "$HERE/cgroup.conf" "$ETC/cgroup.conf"
# Fake GPUs: char devices with /dev/null's numbers (symlinks to /dev/null if mknod is refused).
for ((i = 0; i < (GPUS > 2 ? GPUS : 2); i++)); do
    d=$STATE/dev/nvidia$i
    [[ -c $d ]] || { rm -f "$d"; mknod "$d" c 1 3 2>/dev/null || ln -s /dev/null "$d"; }
done
# Plain sbatch/sinfo/sacct (tests, submitit) read /etc/slurm/slurm.conf: point it at ours.
if [[ -n $ETC_LINK && $(readlink "$ETC_LINK" 2>/dev/null || true) != "$CONF" ]]; then
    mkdir -p "$(dirname "$ETC_LINK")"
    if [[ -e $ETC_LINK || -L $ETC_LINK ]]; then
        mv -f "$ETC_LINK" "$ETC_LINK.before-energybench"
        say "moved existing $ETC_LINK to $ETC_LINK.before-energybench"
    fi
    ln -s "$CONF" "$ETC_LINK"
    say "linked $ETC_LINK -> $CONF"
fi
if [[ -n $changed ]]; then say "wrote config:$changed ($ETC)"; fi

# ---------------------------------------------------------------- munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
    say "munge: running ($(owner munged))"
else
    key=/etc/munge/munge.key
    if [[ ! -s $key ]]; then
        mkdir -p /etc/munge
        mungekey --create --keyfile="$key" 2>/dev/null || dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
        say "munge: created $key"
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /etc/munge "$key" /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge; chmod 0400 "$key"; chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --force </dev/null >>"$LOG/munged.out" 2>&1 9>&- ||
        fail "munged failed to start" "$LOG/munged.out" /var/log/munge/munged.log
    wait_for 15 munge_ok || fail "munge does not answer" "$LOG/munged.out" /var/log/munge/munged.log
    pid=$(pidfile_pid /run/munge/munged.pid munged) && record munged "$pid"
    say "munge: started (pid ${pid:-?})"
fi

# ---------------------------------------------------------------- MariaDB (private instance under the state dir)
ADMIN=$(command -v mariadb-admin || command -v mysqladmin)
SQL=$(command -v mariadb || command -v mysql)
db_ok() { "$ADMIN" --no-defaults --socket="$DBSOCK" -uroot ping >/dev/null 2>&1; }
if db_ok; then
    say "mariadb: running ($(owner mysqld))"
else
    if [[ ! -d $STATE/mysql/mysql ]]; then
        say "mariadb: initialising datadir $STATE/mysql"
        install_db=$(command -v mariadb-install-db || command -v mysql_install_db)
        "$install_db" --no-defaults --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
            --skip-test-db >"$LOG/mariadb-install.log" 2>&1 9>&- || fail "mariadb-install-db failed" "$LOG/mariadb-install.log"
    fi
    rm -f "$DBSOCK"
    # mysqld_safe must come first with --no-defaults: ignore /etc/mysql (the system instance's config).
    nohup setsid mysqld_safe --no-defaults --user=root --datadir="$STATE/mysql" --socket="$DBSOCK" \
        --pid-file="$RUN/mysqld.pid" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$LOG/mysqld.log" --innodb-lock-wait-timeout=900 --innodb-log-file-size=64M \
        --innodb-buffer-pool-size=1024M </dev/null >>"$LOG/mysqld_safe.out" 2>&1 9>&- &
    wait_for 60 db_ok || fail "mariadb did not come up" "$LOG/mysqld_safe.out" "$LOG/mysqld.log"
    if pid=$(pidfile_pid "$RUN/mysqld.pid"); then
        record mysqld "$pid"
        ppid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")
        [[ $(cat "/proc/$ppid/cmdline" 2>/dev/null | tr '\0' ' ') == *mysqld_safe* ]] && record mysqld_safe "$ppid"
    fi
    say "mariadb: started (pid ${pid:-?}, port $DB_PORT)"
fi
# ---------------------------------------------------------------- slurmdbd
# One sacctmgr call both checks slurmdbd and lists the associations (ACCT: "account|user" lines).
dbd_ok() { ACCT=$(sacctmgr -n -P show assoc where cluster="$CLUSTER" format=account,user 2>/dev/null); }
if [[ $changed == *slurmdbd.conf* ]] && owned_pid slurmdbd >/dev/null; then stop_owned slurmdbd 30; fi
if pidfile_pid "$RUN/slurmdbd.pid" slurmdbd >/dev/null && dbd_ok; then
    say "slurmdbd: running ($(owner slurmdbd))"
else
    # the accounting DB and its user (slurmdbd.conf holds the password)
    "$SQL" --no-defaults --socket="$DBSOCK" -uroot <<EOF || fail "creating the accounting DB failed" "$LOG/mysqld.log"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
    slurmdbd </dev/null >>"$LOG/slurmdbd.out" 2>&1 9>&- || fail "slurmdbd failed to start" "$LOG/slurmdbd.out" "$LOG/slurmdbd.log"
    wait_for 90 dbd_ok || fail "slurmdbd does not answer" "$LOG/slurmdbd.out" "$LOG/slurmdbd.log"
    pid=$(pidfile_pid "$RUN/slurmdbd.pid" slurmdbd) && record slurmdbd "$pid"
    say "slurmdbd: started (pid ${pid:-?})"
fi

# ---------------------------------------------------------------- accounting: cluster, account, root association
has_assoc() { grep -qx "$ACCOUNT|$1" <<<"$ACCT"; }
if ! has_assoc root || { [[ -n ${SUDO_USER:-} ]] && ! has_assoc "$SUDO_USER"; }; then
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || fail "sacctmgr add cluster failed" "$LOG/slurmdbd.log"
        say "accounting: registered cluster $CLUSTER"
    fi
    if [[ -z $(sacctmgr -n -P show account "$ACCOUNT" format=account) ]]; then
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="energybench dev" Organization=energybench >/dev/null ||
            fail "sacctmgr add account failed" "$LOG/slurmdbd.log"
        say "accounting: added account $ACCOUNT"
    fi
    for u in root ${SUDO_USER:-}; do
        if [[ -z $(sacctmgr -n -P show assoc where cluster="$CLUSTER" user="$u" account="$ACCOUNT" format=user) ]]; then
            sacctmgr -i add user "$u" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null ||
                fail "sacctmgr add user $u failed" "$LOG/slurmdbd.log"
            say "accounting: added user $u to account $ACCOUNT"
        fi
    done
fi

# ---------------------------------------------------------------- slurmctld
# The node layout slurmctld was started with; another one (the fallback, or back to multi-node)
# needs slurmctld and every slurmd restarted, not a reconfigure.
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
stop_slurm() {  # stop every slurmd and slurmctld that up.sh started
    local f
    for f in "$OWNED"/slurmd "$OWNED"/slurmd-*; do [[ -e $f ]] && stop_owned "$(basename "$f")" 30; done
    stop_owned slurmctld 30
}
if ctld_ok && ! cmp -s <(printf '%s\n' "$nodes") "$RUN/nodes.running"; then
    owned_pid slurmctld >/dev/null || die "the node layout changed but slurmctld was not started by up.sh; stop it, then run up.sh"
    say "slurmctld: node layout changed ($MODE: $NODE_NAMES): restarting slurmctld and the slurmd nodes"
    stop_slurm
fi
if ctld_ok; then
    say "slurmctld: running ($(owner slurmctld))"
    if [[ -n $changed ]]; then
        scontrol reconfigure && say "slurmctld: reconfigured (config changed)"
    fi
else
    printf '%s\n' "$nodes" >"$RUN/nodes.running"
    slurmctld -f "$CONF" </dev/null >>"$LOG/slurmctld.out" 2>&1 9>&- || fail "slurmctld failed to start" "$LOG/slurmctld.out" "$LOG/slurmctld.log"
    wait_for 30 ctld_ok || fail "slurmctld does not answer 'scontrol ping'" "$LOG/slurmctld.out" "$LOG/slurmctld.log"
    pid=$(pidfile_pid "$RUN/slurmctld.pid" slurmctld) && record slurmctld "$pid"
    say "slurmctld: started (pid ${pid:-?})"
    # Jobs restored from the saved state are of the cluster's previous life: their processes ended
    # with it (a restarted machine, a killed session). Left queued they would run again among the
    # next session's jobs and skew its node loads; cancel them (EB_CLUSTER_KEEP_JOBS=1 keeps them).
    left=$(squeue -h -o %A 2>/dev/null | sort -un | paste -sd' ' -)
    if [[ -n $left && ${EB_CLUSTER_KEEP_JOBS:-0} != 1 ]]; then
        # shellcheck disable=SC2086
        scancel $left 2>/dev/null || true
        say "slurmctld: cancelled $(wc -w <<<"$left") job(s) left from its previous run ($left); EB_CLUSTER_KEEP_JOBS=1 keeps them"
    fi
fi

# ---------------------------------------------------------------- slurmd, one per node
# In its namespaces: nsenter joins only the network namespace (no private mount namespace, unlike
# `ip netns exec`, so mounts made later -- a test's tmpfs -- are seen by the node's jobs), and
# unshare --uts gives the node its own host name. The jobs inherit both from slurmd.
slurmd_ok() {  # slurmd_ok NODE: prints the pid of the node's slurmd (in the node's namespace)
    local pid; pid=$(pidfile_pid "$RUN/slurmd-$1.pid" slurmd) || return 1
    [[ $MODE != multi || $(netns_of "$pid") == "$(netns_id "$1")" ]] || return 1
    echo "$pid"
}
started=() running=() skipped=()
for n in $NODE_NAMES; do
    if held "$n"; then skipped+=("$n"); continue; fi
    if slurmd_ok "$n" >/dev/null; then running+=("$n"); continue; fi
    if [[ $MODE == multi ]]; then
        nsenter --net="/run/netns/$n" unshare --uts sh -c 'hostname "$1" && exec slurmd -f "$2" -N "$1"' sh "$n" "$CONF" \
            </dev/null >>"$LOG/slurmd-$n.out" 2>&1 9>&- || fail "slurmd $n failed to start" "$LOG/slurmd-$n.out" "$LOG/slurmd-$n.log"
    else
        slurmd -f "$CONF" -N "$n" </dev/null >>"$LOG/slurmd-$n.out" 2>&1 9>&- ||
            fail "slurmd $n failed to start" "$LOG/slurmd-$n.out" "$LOG/slurmd-$n.log"
    fi
    started+=("$n")
done
for n in "${started[@]}"; do
    wait_for 15 slurmd_ok "$n" >/dev/null || fail "slurmd $n exited" "$LOG/slurmd-$n.out" "$LOG/slurmd-$n.log"
    record "slurmd-$n" "$(slurmd_ok "$n")"
done
if ((${#running[@]})); then say "slurmd: running on ${running[*]}"; fi
if ((${#started[@]})); then say "slurmd: started on ${started[*]}"; fi
if ((${#skipped[@]})); then say "slurmd: left alone on ${skipped[*]} (held down by a test: $STATE/held/)"; fi

# ---------------------------------------------------------------- wait for the nodes
unhealthy() {  # the nodes that cannot take jobs now, as "NAME:STATE"
    local node state
    sinfo -h -N -o '%N %T' 2>/dev/null | sort -u | while read -r node state; do
        [[ $state =~ $HEALTHY_RE ]] || held "$node" || echo "$node:$state"
    done
}
end=$(( $(date +%s) + WAIT_S )); last_resume=0
while :; do
    bad=$(unhealthy | xargs)
    [[ -z $bad && -n $(sinfo -h -N -o %N 2>/dev/null) ]] && break
    if (( $(date +%s) - last_resume >= 10 )); then   # e.g. left down by a killed slurmd: it is back, resume it
        for b in $bad; do
            case ${b#*:} in *drain* | down*) scontrol update nodename="${b%%:*}" state=resume 2>/dev/null || true ;; esac
        done
        last_resume=$(date +%s)
    fi
    if (( $(date +%s) >= end )); then
        sinfo -N -l >&2 || true
        fail "nodes not idle after ${WAIT_S}s: ${bad:-no answer}" "$LOG/slurmctld.log" "$LOG"/slurmd-*.log
    fi
    sleep 1
done

parts=$(sinfo -h -o %R | sort -u | paste -sd, -)
if [[ $MODE == multi ]]; then
    what="$(wc -w <<<"$NODE_NAMES") nodes ($NODE_NAMES) in network namespaces on $BRIDGE $NET.0/24"
else
    what="single node $NODE (fallback: $REASON)"
fi
say "cluster $CLUSTER UP: $what, cpus=$CPUS per node, partitions $parts; conf ${ETC_LINK:-$CONF} -> $CONF; state $STATE; $(( $(date +%s) - T0 )) s"
