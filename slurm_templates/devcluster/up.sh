#!/usr/bin/env bash
# Bring up the energybench single-node dev SLURM cluster (munge, MariaDB, slurmdbd,
# slurmctld, slurmd) on this machine. Idempotent: a second run only checks and returns.
# Installs the Debian packages when they are missing (needs root). See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${EB_CLUSTER_STATE:-/var/tmp/energybench-devcluster}
CLUSTER=${EB_CLUSTER_NAME:-energybench}
NODE=${EB_CLUSTER_NODE:-ebnode1}
CPUS=${EB_CLUSTER_CPUS:-4}
GPUS=${EB_CLUSTER_GPUS:-4}
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

say() { echo "[devcluster] $*"; }
die() { echo "[devcluster] ERROR: $*" >&2; exit 1; }
tail_log() {  # tail_log FILE...: show the end of logs that explain a failure
    local f
    for f in "$@"; do
        [[ -f $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 40 "$f" >&2 || true
    done
}
fail() { local msg=$1; shift; tail_log "$@"; die "$msg"; }

# --- process bookkeeping: owned/<name> = "pid starttime comm" of what THIS script started ---
proc_start() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
alive() { [[ -n ${1:-} && -d /proc/$1 ]] && [[ $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]; }
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
owner() { if owned_pid "$1" >/dev/null; then echo "started by up.sh"; else echo "not started by up.sh, left alone"; fi; }
wait_for() {  # wait_for SECONDS CMD...: poll CMD every 0.5 s
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do (( $(date +%s) < end )) || return 1; sleep 0.5; done
}

# ---------------------------------------------------------------- state dir + lock (root only)
if [[ $EUID -eq 0 ]]; then
    mkdir -p "$ETC" "$RUN" "$LOG" "$OWNED" "$STATE/dev" "$STATE/spool/slurmctld" "$STATE/spool/slurmd"
    exec 9>>"$STATE/.lock"   # every daemon below is started with 9>&- so it does not inherit the lock
    flock -w 900 9 || die "another up.sh/down.sh holds $STATE/.lock"
fi

# ---------------------------------------------------------------- packages
PKGS=(slurm-wlm slurmctld slurmd slurm-client slurmdbd munge mariadb-server mariadb-client)
missing=()
for p in "${PKGS[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
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
    st=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1 || true)
    case $st in
        idle | mixed | allocated | completing) say "cluster $CLUSTER UP (checked only, not root): node $NODE ($st)"; exit 0 ;;
        *) die "cluster not up (node $NODE: '${st:-no answer}') and starting it needs root" ;;
    esac
fi


# ---------------------------------------------------------------- config
HOST=$(hostname -s 2>/dev/null || uname -n); HOST=${HOST%%.*}
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
if [[ ! -s $ETC/dbpass ]]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$ETC/dbpass")
fi
DB_PASS=$(cat "$ETC/dbpass")
changed=
render() {  # render TEMPLATE DEST MODE
    local tmp; tmp=$(mktemp "$2.XXXX")
    sed -e "s|@STATE@|$STATE|g" -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@CTLD_HOST@|$HOST|g" \
        -e "s|@HOSTNAME@|$HOST|g" -e "s|@NODE@|$NODE|g" -e "s|@CPUS@|$CPUS|g" \
        -e "s|@MEM_MB@|$MEM_MB|g" -e "s|@GPUS@|$GPUS|g" -e "s|@GPU_MAX@|$((GPUS - 1))|g" \
        -e "s|@MAXTIME@|$MAXTIME|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        -e "s|@DBD_PORT@|$DBD_PORT|g" -e "s|@DB_PORT@|$DB_PORT|g" -e "s|@DB_USER@|$DB_USER|g" \
        -e "s|@DB_PASS@|$DB_PASS|g" -e "s|@DB_NAME@|$DB_NAME|g" "$1" >"$tmp"
    chmod "$3" "$tmp"
    if cmp -s "$tmp" "$2"; then rm -f "$tmp"; else mv -f "$tmp" "$2"; changed+=" $(basename "$2")"; fi
}
render "$HERE/slurm.conf.in" "$CONF" 644
render "$HERE/gres.conf.in" "$ETC/gres.conf" 644
render "$HERE/slurmdbd.conf.in" "$ETC/slurmdbd.conf" 600
cp -f "$HERE/cgroup.conf" "$ETC/cgroup.conf"
# Fake GPUs: char devices with /dev/null's numbers (symlinks to /dev/null if mknod is refused).
for ((i = 0; i < GPUS; i++)); do
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

# ---------------------------------------------------------------- slurmdbd
dbd_ok() { sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
if pidfile_pid "$RUN/slurmdbd.pid" slurmdbd >/dev/null && dbd_ok; then
    say "slurmdbd: running ($(owner slurmdbd))"
else
    slurmdbd </dev/null >>"$LOG/slurmdbd.out" 2>&1 9>&- || fail "slurmdbd failed to start" "$LOG/slurmdbd.out" "$LOG/slurmdbd.log"
    wait_for 90 dbd_ok || fail "slurmdbd does not answer" "$LOG/slurmdbd.out" "$LOG/slurmdbd.log"
    pid=$(pidfile_pid "$RUN/slurmdbd.pid" slurmdbd) && record slurmdbd "$pid"
    say "slurmdbd: started (pid ${pid:-?})"
fi

# ---------------------------------------------------------------- accounting: cluster, account, root association
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

# ---------------------------------------------------------------- slurmctld
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
if ctld_ok; then
    say "slurmctld: running ($(owner slurmctld))"
    if [[ -n $changed ]]; then
        scontrol reconfigure && say "slurmctld: reconfigured (config changed; node/GRES changes need down.sh + up.sh)"
    fi
else
    slurmctld -f "$CONF" </dev/null >>"$LOG/slurmctld.out" 2>&1 9>&- || fail "slurmctld failed to start" "$LOG/slurmctld.out" "$LOG/slurmctld.log"
    wait_for 30 ctld_ok || fail "slurmctld does not answer 'scontrol ping'" "$LOG/slurmctld.out" "$LOG/slurmctld.log"
    pid=$(pidfile_pid "$RUN/slurmctld.pid" slurmctld) && record slurmctld "$pid"
    say "slurmctld: started (pid ${pid:-?})"
fi

# ---------------------------------------------------------------- slurmd
if pid=$(pidfile_pid "$RUN/slurmd.pid" slurmd); then
    say "slurmd: running ($(owner slurmd))"
else
    slurmd -f "$CONF" -N "$NODE" </dev/null >>"$LOG/slurmd.out" 2>&1 9>&- || fail "slurmd failed to start" "$LOG/slurmd.out" "$LOG/slurmd.log"
    wait_for 15 pidfile_pid "$RUN/slurmd.pid" slurmd >/dev/null || fail "slurmd exited" "$LOG/slurmd.out" "$LOG/slurmd.log"
    pid=$(pidfile_pid "$RUN/slurmd.pid" slurmd) && record slurmd "$pid"
    say "slurmd: started (pid ${pid:-?}, node $NODE)"
fi

# ---------------------------------------------------------------- wait for the node
node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }
end=$(( $(date +%s) + WAIT_S )); last_resume=0; st=
while :; do
    st=$(node_state)
    case $st in
        idle | mixed | allocated | completing) break ;;
        *drain* | down)   # e.g. left down by an earlier crash; slurmd is alive, so resume it
            if (( $(date +%s) - last_resume >= 10 )); then
                scontrol update nodename="$NODE" state=resume 2>/dev/null || true; last_resume=$(date +%s)
            fi ;;
    esac
    if (( $(date +%s) >= end )); then
        scontrol show node "$NODE" >&2 || true
        fail "node $NODE not idle after ${WAIT_S}s (state: '${st:-?}')" "$LOG/slurmctld.log" "$LOG/slurmd.log"
    fi
    sleep 1
done

parts=$(sinfo -h -o %R | sort -u | paste -sd, -)
say "cluster $CLUSTER UP: node $NODE ($st, cpus=$CPUS gpus=$GPUS), partitions $parts; conf ${ETC_LINK:-$CONF} -> $CONF; state $STATE; $(( $(date +%s) - T0 )) s"
