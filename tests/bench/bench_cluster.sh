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
#
# BENCH_EXTRA_TARGETS=1 adds the one-relay load measured twice more, with the CPU time of
# redis-server alone and of the relay alone (where a decision's time goes).
set -u
BENCH=${1:?usage: bench_cluster.sh BENCH_POLICY MAILLIMITD [--seconds S] [--repeat N] [--conns 8,64] [--quick]}
MAILLIMITD=${2:?usage: bench_cluster.sh BENCH_POLICY MAILLIMITD [options]}
shift 2
OPTS=(--seconds 3 --repeat 3)
CONNS=8,64
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) OPTS=(--seconds "$2" "${OPTS[@]:2}"); shift 2 ;;
    --repeat) OPTS=("${OPTS[@]:0:2}" --repeat "$2"); shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --quick) OPTS=(--quick); CONNS=8; shift ;;
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
