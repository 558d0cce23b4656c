#!/bin/bash
# SPDX-License-Identifier: MIT
# cluster_redis under load (SPEC §8: one maillimitd with Redis on loopback >= 50 % of its
# throughput without, p99 < 5 ms). bench_policy's load (realistic Postfix RCPT requests from
# 10000 authenticated senders over 1000 domains, each a new message, one outstanding request
# per connection) against, in turn and round after round:
#   alone      one maillimitd without cluster_redis
#   redis      one maillimitd with cluster_redis (a private redis-server on loopback)
#   3-relays   three maillimitd sharing that Redis, the connections spread over them
# Every relay has the same configuration (100 subscriptions, 1000 domains, limits that are
# never reached, so every request is checked and charged in Redis: the chain's script and the
# server total's charge). Prints requests/s, p50/p99/max latency, CPU time per request of the
# target's processes (maillimitd, and redis-server for the cluster targets) and the ratio to
# "alone" (median of the rounds). Figures are reported, not enforced; exit status 0 unless
# something failed to run.
#
#   bench_cluster.sh BENCH_POLICY MAILLIMITD [--seconds S] [--repeat N] [--conns 8,64] [--quick]
#                    [--history CLUSTER_SCRIPT]
#
# --history gives every domain's and subscription's key a day of traffic before the load
# starts (a unit in each of the last 60 minutes and in each of the 23 hours before), through
# the relays' own script (CLUSTER_SCRIPT is tests/integration/cluster_script, which prints it):
# the keys of a relay that has run for a day, not the new keys of a bench that has run for
# seconds.
#
# BENCH_EXTRA_TARGETS=1 adds the one-relay load measured twice more, with the CPU time of
# redis-server alone and of the relay alone (where a decision's time goes).
set -u
BENCH=${1:?usage: bench_cluster.sh BENCH_POLICY MAILLIMITD [--seconds S] [--repeat N] [--conns 8,64] [--quick]}
MAILLIMITD=${2:?usage: bench_cluster.sh BENCH_POLICY MAILLIMITD [options]}
shift 2
OPTS=(--seconds 3 --repeat 3)
CONNS=8,64
HISTORY=
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) OPTS=(--seconds "$2" "${OPTS[@]:2}"); shift 2 ;;
    --repeat) OPTS=("${OPTS[@]:0:2}" --repeat "$2"); shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --quick) OPTS=(--quick); CONNS=8; shift ;;
    --history) HISTORY=$2; shift 2 ;;
    *) echo "unknown option $1"; exit 2 ;;
    esac
done
REDIS=$(command -v redis-server || true)
[ -n "$REDIS" ] || { echo "bench_cluster: needs redis-server (Debian: redis-server)"; exit 1; }
command -v python3 >/dev/null || { echo "bench_cluster: needs python3"; exit 1; }

T=$(mktemp -d /tmp/bench-cluster.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench_cluster: nothing listens on port $1"; exit 1
}

RPORT=$(freeport)
"$REDIS" --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$T" > "$T/redis.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
wait_port "$RPORT"

# the hierarchy of bench_policy's own maillimitd
{
    echo "server mailbox=1000000 domain=10000000 subscription=100000000"
    for s in $(seq 0 99); do echo "subscription sub$s"; done
    for d in $(seq 0 999); do echo "domain dom$d.example subscription=sub$((d % 100))"; done
} > "$T/hierarchy.conf"

start() { # $1 name, $2 port, $3 more lines
    printf 'policy_listen inet:127.0.0.1:%s\nadmin_listen none\nstate_file none\npolicy_max_connections 2048\n%s\n' \
        "$2" "$3" | cat - "$T/hierarchy.conf" > "$T/$1.conf"
    "$MAILLIMITD" -f -c "$T/$1.conf" > "$T/$1.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
    wait_port "$2"
}
P0=$(freeport); P1=$(freeport); P2=$(freeport); P3=$(freeport)
start alone "$P0" ""
for i in 1 2 3; do
    port=$(eval echo "\$P$i")
    start "relay$i" "$port" "cluster_redis inet:127.0.0.1:$RPORT"
done
for i in 1 2 3; do
    for _ in $(seq 100); do grep -q 'counters shared through Redis' "$T/relay$i.log" && break; sleep 0.05; done
    grep -q 'counters shared through Redis' "$T/relay$i.log" ||
        { echo "bench_cluster: relay $i did not connect to Redis"; cat "$T/relay$i.log"; exit 1; }
done

if [ -n "$HISTORY" ]; then
    "$HISTORY" > "$T/script.lua" || { echo "bench_cluster: $HISTORY failed"; exit 1; }
    python3 - "$T/script.lua" "$RPORT" <<'PY' || { echo "bench_cluster: history not written"; exit 1; }
import socket, sys, time
script = open(sys.argv[1], "rb").read()
sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])), 10)
rf = sock.makefile("rb")
def enc(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
def read():
    line = rf.readline()
    if line[:1] == b"-":
        raise SystemExit("redis: " + line.decode().strip())
    if line[:1] == b"$":
        n = int(line[1:])
        return rf.read(n + 2)[:-2] if n >= 0 else None
    if line[:1] == b"*":
        return [read() for _ in range(int(line[1:]))]
    return line[1:-2]
sock.sendall(enc("SCRIPT", "LOAD", script))
sha = read().decode()
now = int(time.time())
keys = ["maillimit:{s:sub%d}:s" % s for s in range(100)]
keys += ["maillimit:{s:sub%d}:d:dom%d.example" % (d % 100, d) for d in range(1000)]
times = [now - 60 * i for i in range(60, 0, -1)] + [now - 3600 * h for h in range(24, 1, -1)]
times.sort()
n = 0
for t in times:  # oldest first, as a relay's traffic comes
    sock.sendall(b"".join(enc("EVALSHA", sha, 1, k, t, 1, 1) for k in keys))
    for _ in keys:
        read()
    n += len(keys)
print("history: %d keys, %d charges (one per minute of the last hour, per hour of the day)"
      % (len(keys), n))
PY
fi
echo "redis-server $("$REDIS" --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$RPORT (no persistence)"
"$BENCH" "${OPTS[@]}" --conns "$CONNS" \
    --target "alone=$P0@$PID_alone" \
    --target "redis=$P1@$PID_relay1+$RPID" \
    --target "3-relays=$P1+$P2+$P3@$PID_relay1+$PID_relay2+$PID_relay3+$RPID" ${BENCH_EXTRA_TARGETS:+--target "redis-only=$P1@$RPID" --target "relay-only=$P1@$PID_relay1"}
rc=$?
# a relay that fell back to its local counters during the run says so in its log
for i in 1 2 3; do
    if grep -q 'unavailable' "$T/relay$i.log"; then
        echo "note: relay $i decided alone at some point: $(grep -m1 unavailable "$T/relay$i.log")"
    fi
done
exit $rc
