#!/usr/bin/env bash
# Whole-server benchmark on loopback: Rampart's mail-server against Postfix (SMTP acceptance)
# and Dovecot (IMAP command mix, POP3 download, memory per idle IMAP connection). Each server
# runs as a private instance inside one temporary directory; nothing system-wide is
# configured, and every process started here is stopped by its PID on exit.
#
# Usage (as root, from anywhere):  bash bench/peers.sh
# Environment: MESSAGES (2000 per round), SIZE (10240), CONCURRENCY (16), ROUNDS (3, the
# median is reported), IMAP_CLIENTS (16), IMAP_SECONDS (20), IDLE_CONNECTIONS (1000),
# WRITE=0 to print the table without writing BENCHMARKS.md, KEEP=1 to keep the directory.
set -euo pipefail

# The parameters given in the environment, to print the exact command with the results.
params='MESSAGES|SIZE|CONCURRENCY|ROUNDS|IMAP_CLIENTS|IMAP_SECONDS|IDLE_CONNECTIONS'
overrides=$(env | grep -E "^($params)=" | sort | tr '\n' ' ' || true)

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-loadgen}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-10240}
CONCURRENCY=${CONCURRENCY:-16}
ROUNDS=${ROUNDS:-3}
IMAP_CLIENTS=${IMAP_CLIENTS:-16}
IMAP_SECONDS=${IMAP_SECONDS:-20}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
WRITE=${WRITE:-1}
KEEP=${KEEP:-0}

user=bench@localhost
pass=bench-password-for-loopback

log() { printf '[peers] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root: Postfix and Dovecot drop privileges themselves"

# --- Peers: install from Debian's packages if missing ---------------------------------------

install_peers() {
    if command -v postfix >/dev/null && command -v dovecot >/dev/null \
        && [[ -x /usr/lib/dovecot/imap && -x /usr/lib/dovecot/pop3 ]]; then
        return
    fi
    log "installing postfix, dovecot-imapd and dovecot-pop3d"

    # Remember what ran before, so that only an instance the install itself started is
    # stopped afterwards, and no other service is touched.
    local before_master before_dovecot pid
    before_master=$(pgrep -x master || true)
    before_dovecot=$(pgrep -x dovecot || true)

    # "No configuration": the package must not set this machine up as a mail system.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix dovecot-imapd dovecot-pop3d

    for pid in $(pgrep -x master || true); do
        if ! grep -qx "$pid" <<<"$before_master"; then
            log "stopping the system Postfix the install started"
            postfix stop || true
        fi
    done
    for pid in $(pgrep -x dovecot || true); do
        if ! grep -qx "$pid" <<<"$before_dovecot"; then
            log "stopping the system Dovecot the install started (pid $pid)"
            kill "$pid" || true
        fi
    done
}

install_peers

# --- Build ----------------------------------------------------------------------------------

log "building mail-server and loadgen (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$root" && cargo build --release --quiet -p examples --bin mail-server -p loadgen)
server_bin=$CARGO_TARGET_DIR/release/mail-server
loadgen=$CARGO_TARGET_DIR/release/loadgen

# A thousand idle connections are a thousand sockets on each side.
ulimit -n 8192

# --- The run's directory, and stopping everything on exit --------------------------------------

tmp=$(mktemp -d /tmp/rampart-peers.XXXXXX)
# Postfix's and Dovecot's unprivileged users must traverse it to reach their directories.
chmod 755 "$tmp"
results=$tmp/results
mkdir "$results"

rampart_pid=
postfix_master=
dovecot_pid=

stop_pid() {
    # Waits up to ten seconds for a process to go after SIGTERM, then kills it.
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    set +e
    if [[ $status -ne 0 ]]; then
        for f in rampart.log postfix.log dovecot.log; do
            [[ -f $tmp/$f ]] && { log "last lines of $f:"; tail -n 15 "$tmp/$f" >&2; }
        done
    fi
    [[ -n $rampart_pid ]] && stop_pid "$rampart_pid"
    if [[ -n $postfix_master ]]; then
        postfix -c "$tmp/postfix" stop >/dev/null 2>&1
        stop_pid "$postfix_master"
    fi
    [[ -n $dovecot_pid ]] && stop_pid "$dovecot_pid"
    if [[ $KEEP == 1 ]]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}
trap cleanup EXIT

# --- Ports, a mail uid, configuration ---------------------------------------------------------

# Six free loopback ports at once (bound together, so they are distinct).
read -r rampart_smtp rampart_imap rampart_pop3 postfix_smtp dovecot_imap dovecot_pop3 < <(
    python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')

# The Maildir is owned by a numeric uid that no account has: no login, no system file.
mail_uid=64000
while getent passwd "$mail_uid" >/dev/null || getent group "$mail_uid" >/dev/null; do
    mail_uid=$((mail_uid + 1))
done

render() {
    # Fills the @NAME@ placeholders of a template.
    sed -e "s|@TMP@|$tmp|g" -e "s|@USER@|$user|g" -e "s|@UID@|$mail_uid|g" \
        -e "s|@GID@|$mail_uid|g" -e "s|@SMTP_PORT@|$2|g" -e "s|@IMAP_PORT@|$3|g" \
        -e "s|@POP3_PORT@|$4|g" "$bench/peers/$1"
}

wait_port() {
    local port=$1 i
    for i in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "nothing listens on 127.0.0.1:$port"
}

# --- Rampart ----------------------------------------------------------------------------------

render rampart.toml "$rampart_smtp" "$rampart_imap" "$rampart_pop3" >"$tmp/rampart.toml"
echo "$pass" | "$server_bin" --data-dir "$tmp/rampart" --config "$tmp/rampart.toml" \
    user add "$user" >/dev/null

start_rampart() {
    # Extra environment (for the allocator diagnostic) comes as arguments.
    env "$@" "$server_bin" --data-dir "$tmp/rampart" --config "$tmp/rampart.toml" serve \
        >>"$tmp/rampart.log" 2>&1 &
    rampart_pid=$!
    wait_port "$rampart_imap"
}

stop_rampart() {
    stop_pid "$rampart_pid"
    wait "$rampart_pid" 2>/dev/null || true
    rampart_pid=
}

start_rampart

# --- Postfix, delivering into Dovecot's Maildir ------------------------------------------------

mkdir -p "$tmp/postfix" "$tmp/postfix-queue" "$tmp/postfix-data" "$tmp/dovecot-mail"
chown postfix "$tmp/postfix-data"
chown "$mail_uid:$mail_uid" "$tmp/dovecot-mail"
render postfix-main.cf "$postfix_smtp" 0 0 >"$tmp/postfix/main.cf"
render postfix-master.cf "$postfix_smtp" 0 0 >"$tmp/postfix/master.cf"
# `postfix -c` operates on this instance only; as root it needs no entry in the default
# main.cf (alternate_config_directories binds only the set-gid postdrop and postqueue).
postfix -c "$tmp/postfix" check
postfix -c "$tmp/postfix" start >/dev/null 2>&1
wait_port "$postfix_smtp"
postfix_master=$(tr -d ' ' <"$tmp/postfix-queue/pid/master.pid")

# --- Dovecot ----------------------------------------------------------------------------------

render dovecot.conf 0 "$dovecot_imap" "$dovecot_pop3" >"$tmp/dovecot.conf"
echo "$user:{PLAIN}$pass:$mail_uid:$mail_uid::$tmp/dovecot-mail/$user::" >"$tmp/dovecot-users"
chmod 644 "$tmp/dovecot-users"
dovecot -c "$tmp/dovecot.conf"
wait_port "$dovecot_imap"
wait_port "$dovecot_pop3"
dovecot_pid=$(cat "$tmp/dovecot-run/master.pid")

# --- Phases -------------------------------------------------------------------------------------

maildir_count() {
    find "$tmp/dovecot-mail/$user/new" "$tmp/dovecot-mail/$user/cur" -type f 2>/dev/null \
        | wc -l
}

wait_delivered() {
    # Postfix answers 250 once the message is in its queue; its virtual agent then writes
    # the Maildir. The next phase waits for that, so it never runs beside the backlog.
    local want=$1 i
    for i in $(seq 1200); do
        [[ $(maildir_count) -ge $want ]] && return 0
        sleep 0.1
    done
    die "Postfix delivered $(maildir_count) of $want messages in 120 s"
}

run() {
    # run NAME loadgen-arguments...: one JSON line into results/NAME.json.
    local name=$1
    shift
    "$loadgen" "$@" >"$results/$name.json"
    log "$name: $(cat "$results/$name.json")"
}

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)

disk_probe() {
    # The latency of one fdatasync of a 4 KiB append in the run's directory, p50 and p90
    # of 200: durable SMTP acceptance rides on it, and on a shared disk it varies.
    python3 - "$tmp/fsync-probe" <<'PY'
import json, os, statistics, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
samples = []
for _ in range(200):
    os.write(fd, b"x" * 4096)
    start = time.perf_counter()
    os.fdatasync(fd)
    samples.append((time.perf_counter() - start) * 1000)
os.close(fd)
os.unlink(sys.argv[1])
samples.sort()
print(json.dumps({"p50_ms": round(samples[99], 3), "p90_ms": round(samples[179], 3)}))
PY
}

disk_probe >"$results/disk-before.json"
log "disk fdatasync before: $(cat "$results/disk-before.json")"
smtp_args=(--messages "$MESSAGES" --size "$SIZE" --concurrency "$CONCURRENCY" --to "$user")
for round in $(seq "$ROUNDS"); do
    run "smtp-rampart-$round" smtp --addr "127.0.0.1:$rampart_smtp" "${smtp_args[@]}"
    run "smtp-postfix-$round" smtp --addr "127.0.0.1:$postfix_smtp" "${smtp_args[@]}"
    wait_delivered $((MESSAGES * round))
done

disk_probe >"$results/disk-after.json"
log "disk fdatasync after the SMTP rounds: $(cat "$results/disk-after.json")"

imap_args=(--user "$user" --pass "$pass" --clients "$IMAP_CLIENTS" --seconds "$IMAP_SECONDS")
run imap-rampart imap --addr "127.0.0.1:$rampart_imap" "${imap_args[@]}"
run imap-dovecot imap --addr "127.0.0.1:$dovecot_imap" "${imap_args[@]}"

for round in $(seq "$ROUNDS"); do
    run "pop3-rampart-$round" pop3 --addr "127.0.0.1:$rampart_pop3" --user "$user" --pass "$pass"
    run "pop3-dovecot-$round" pop3 --addr "127.0.0.1:$dovecot_pop3" --user "$user" --pass "$pass"
done

# Memory is read from a freshly started Rampart: heap freed by the earlier phases but kept by
# the allocator would otherwise be reused by the new connections and hide their cost.
# Dovecot starts a new imap process per connection, so its earlier phases leave nothing.
idle_args=(--user "$user" --pass "$pass" --connections "$IDLE_CONNECTIONS")
stop_rampart
start_rampart
run idle-rampart idle --addr "127.0.0.1:$rampart_imap" "${idle_args[@]}" --pid "$rampart_pid"
sleep 2
run idle-dovecot idle --addr "127.0.0.1:$dovecot_imap" "${idle_args[@]}" --pid "$dovecot_pid"

# Diagnostic, not a comparison: glibc's malloc raises its mmap threshold after the first
# large free, so later 19 MiB Argon2id work areas come from the heap and stay resident.
# A fixed threshold keeps them in mmap, showing what the sessions themselves cost.
stop_rampart
start_rampart MALLOC_MMAP_THRESHOLD_=262144
run idle-rampart-mmap idle --addr "127.0.0.1:$rampart_imap" "${idle_args[@]}" \
    --pid "$rampart_pid"

# --- Report -------------------------------------------------------------------------------------

command_line="${overrides}bash bench/peers.sh"
python3 "$bench/peers/report.py" \
    --results "$results" \
    --benchmarks "$root/BENCHMARKS.md" \
    --write "$WRITE" \
    --command "$command_line" \
    --postfix "$(postconf -c "$tmp/postfix" -h mail_version)" \
    --dovecot "$(dovecot --version)" \
    --rampart "$("$server_bin" --version)" \
    --loadavg "$loadavg_start" \
    --loadavg-end "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --params "messages=$MESSAGES size=$SIZE concurrency=$CONCURRENCY rounds=$ROUNDS \
imap_clients=$IMAP_CLIENTS imap_seconds=$IMAP_SECONDS idle_connections=$IDLE_CONNECTIONS"
