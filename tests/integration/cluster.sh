#!/bin/bash
# SPDX-License-Identifier: MIT
# Several relays, one set of limits (cluster_redis, docs/cluster.md): a private redis-server
# on a free loopback port and three maillimitd sharing it, driven through the policy
# protocol (no MTA, no root).
#
#  1. N+k messages spread round-robin over the three relays: exactly N accepted, at the
#     mailbox, domain and subscription levels and for the server total, through the policy
#     protocol and both milters (SMTP and local submissions); maillimitctl status shows the
#     count of all relays;
#  2. Redis killed (kill -9) mid-run: every request is still answered within the policy
#     timeout, with the local limits; the outage is logged once per relay;
#  3. Redis back (empty): the relays rejoin by themselves and add what they admitted alone;
#     the limits are shared again;
#  4. a relay restarted (without a state file) keeps deciding with the shared counts.
#
#  0. the Lua script itself at chosen times (cluster_script.py): the windows, retry_after, the
#     refusing level;
#
#   cluster.sh MAILLIMITD MAILLIMITCTL CLUSTER_SCRIPT
#
# A test that cannot run fails (redis-server or python3 missing, Redis not starting).
set -u
MAILLIMITD=${1:?usage: cluster.sh MAILLIMITD MAILLIMITCTL}
MAILLIMITCTL=${2:?usage: cluster.sh MAILLIMITD MAILLIMITCTL CLUSTER_SCRIPT}
SCRIPT_DUMP=${3:?usage: cluster.sh MAILLIMITD MAILLIMITCTL CLUSTER_SCRIPT}
command -v python3 >/dev/null || { echo "FAIL (cannot run): needs python3"; exit 1; }
REDIS=$(command -v redis-server || true)
[ -n "$REDIS" ] || { echo "FAIL (cannot run): needs redis-server (Debian: redis-server)"; exit 1; }

T=$(mktemp -d /tmp/maillimit-cluster.XXXXXX)
PIDS=(0 0 0 0 0)
FPID=
RPID=
fail() {
    echo "FAIL: $*"
    for i in 0 1 2 3 4; do [ -f "$T/log$i" ] && { echo "---- relay $i log"; tail -15 "$T/log$i"; }; done
    echo "---- redis log"; tail -5 "$T/redis.log"
    exit 1
}
cleanup() {
    for p in "${PIDS[@]}"; do
        [ "$p" != 0 ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    [ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    [ -n "$FPID" ] && kill -KILL "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(freeport)
[ "$RPORT" != 6379 ] || RPORT=$(freeport)
PORTS=("$(freeport)" "$(freeport)" "$(freeport)" "$(freeport)" "$(freeport)")
MPORTS=("$(freeport)" "$(freeport)" "$(freeport)")
LPORTS=("$(freeport)" "$(freeport)" "$(freeport)")

start_redis() {
    "$REDIS" --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$T" >> "$T/redis.log" 2>&1 &
    RPID=$!
    python3 - "$RPORT" <<'EOF' || fail "redis-server did not start on port $RPORT"
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
        s.sendall(b"PING\r\n")
        if s.recv(64).startswith(b"+PONG"):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)
EOF
}

start_relay() { # $1: 0..4; $2: more options of cluster_redis; $3: Redis's port
    local i=$1 more=${2:-} rport=${3:-$RPORT}
    cat > "$T/ml$i.conf" <<EOF
policy_listen inet:127.0.0.1:${PORTS[$i]}
admin_listen unix:$T/admin$i.sock
milter_listen inet:127.0.0.1:${MPORTS[$i]:-0}
local_milter_listen inet:127.0.0.1:${LPORTS[$i]:-0}
local_origin relay.example
state_file none
log_denials all
cluster_redis inet:127.0.0.1:$rport timeout=200 prefix=t$RPORT: $more
server mailbox=unlimited domain=unlimited subscription=unlimited
subscription acme
domain acme.example subscription=acme domain=10
subscription beta
domain beta.example subscription=beta
mailbox boss@beta.example mailbox=4
subscription gamma subscription=6
domain g1.example subscription=gamma
domain g2.example subscription=gamma
sysuser gweb subscription=gamma
subscription delta
domain delta.example subscription=delta domain=10
domain epsilon.example subscription=delta domain=5
domain zeta.example subscription=delta domain=3
domain theta.example subscription=delta domain=4
domain kappa.example subscription=delta
domain lambda.example subscription=delta domain=2
domain mu.example subscription=delta domain=1
subscription iota subscription=3
domain iota.example subscription=iota
sysuser iweb subscription=iota
EOF
    "$MAILLIMITD" -f -c "$T/ml$i.conf" >> "$T/log$i" 2>&1 &
    PIDS[$i]=$!
    for _ in $(seq 100); do
        "$MAILLIMITCTL" -s "$T/admin$i.sock" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    "$MAILLIMITCTL" -s "$T/admin$i.sock" ping >/dev/null 2>&1 || fail "relay $i did not start"
}

# wait (at most 5 s) until every relay's log has the line (a fixed string) $1 at least $2 times
wait_logs() {
    for _ in $(seq 100); do
        local ok=1
        for i in 0 1 2; do
            [ "$(grep -cF -- "$1" "$T/log$i")" -ge "$2" ] || ok=0
        done
        [ $ok = 1 ] && return 0
        sleep 0.05
    done
    fail "not in every relay's log ($2 times): $1"
}

# send.py PHASE: the policy client (prints what it checked)
cat > "$T/send.py" <<'EOF'
import socket, struct, sys, time
ports = [int(p) for p in sys.argv[2:7]]
mports = [int(p) for p in sys.argv[7:10]]
lports = [int(p) for p in sys.argv[10:13]]
phase = sys.argv[1]
conns = {}
def conn(i):
    if i not in conns:
        s = socket.create_connection(("127.0.0.1", ports[i]), 2)
        s.settimeout(3)
        conns[i] = s
    return conns[i]
def ask(i, inst, sasl="", sender="x@acme.example", client="192.0.2.7", state="RCPT"):
    s = conn(i)
    req = ("request=smtpd_access_policy\nprotocol_state=%s\ninstance=%s\nclient_address=%s\n"
           "sender=%s\nsasl_username=%s\n\n" % (state, inst, client, sender, sasl)).encode()
    t0 = time.monotonic()
    s.sendall(req)
    buf = b""
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            raise SystemExit("relay %d closed the connection" % i)
        buf += d
    dt = time.monotonic() - t0
    if dt >= 1.0:
        raise SystemExit("relay %d answered after %.3f s (more than the policy timeout)" % (i, dt))
    return buf.decode().startswith("action=DUNNO"), dt
def packet(s, cmd, data=b""):
    s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)
def read_packet(s):
    head = b""
    while len(head) < 4:
        d = s.recv(4 - len(head))
        if not d:
            raise SystemExit("the milter closed the connection")
        head += d
    n = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < n:
        d = s.recv(n - len(body))
        if not d:
            raise SystemExit("the milter closed the connection")
        body += d
    return body[:1], body[1:]
def milter(i, qid, sender, auth="", local=False):
    """One message through relay i's milter (local: local_milter_listen): accepted?"""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", (lports if local else mports)[i]), 2)
    s.settimeout(3)
    packet(s, b"O", struct.pack(">III", 6, 0x1ff, 0))  # every command answered
    assert read_packet(s)[0] == b"O"
    packet(s, b"D", b"C" + b"j\0relay.example\0")
    packet(s, b"C", b"localhost\0" + b"4" + struct.pack(">H", 54321) + b"192.0.2.7\0")
    assert read_packet(s)[0] == b"c"
    macros = b"i\0" + qid.encode() + b"\0"
    if auth:
        macros += b"{auth_authen}\0" + auth.encode() + b"\0"
    packet(s, b"D", b"M" + macros)
    packet(s, b"M", b"<" + sender.encode() + b">\0")
    assert read_packet(s)[0] == b"c"
    packet(s, b"R", b"<someone@remote.example>\0")
    assert read_packet(s)[0] == b"c"
    packet(s, b"E")
    cmd, _ = read_packet(s)
    packet(s, b"Q")
    s.close()
    dt = time.monotonic() - t0
    if dt >= 1.0:
        raise SystemExit("milter of relay %d answered after %.3f s" % (i, dt))
    if cmd not in (b"c", b"y", b"q"):
        raise SystemExit("unexpected milter reply %r" % cmd)
    return cmd == b"c", dt
def count(n, f):
    return sum(1 for k in range(n) if f(k)[0])
def expect(what, got, want):
    print("%s: %d accepted (want %d)" % (what, got, want))
    if got != want:
        raise SystemExit("%s: %d accepted, want %d" % (what, got, want))
u = "%s-%d" % (phase, int(time.time() * 1000))
if phase == "shared":
    # domain limit 10: 15 messages of 15 mailboxes round-robin over the relays
    expect("domain acme.example", count(15, lambda k: ask(k % 3, "%s-a%d" % (u, k),
           sasl="u%d@acme.example" % k)), 10)
    # the same messages asked again (DATA after RCPT): counted once
    # (its relay remembers each message: one accepted, two refused)
    expect("repeated instances", count(3, lambda j: (lambda k: ask(k % 3, "%s-a%d" % (u, k),
           sasl="u%d@acme.example" % k, state="DATA"))([0, 10, 11][j])), 1)
    # mailbox limit 4: 7 messages of one mailbox
    expect("mailbox boss@beta.example", count(7, lambda k: ask(k % 3, "%s-b%d" % (u, k),
           sasl="boss@beta.example", sender="boss@beta.example")), 4)
    # subscription limit 6 over two domains and script mail (local client, domain level)
    expect("subscription gamma", count(9, lambda k: ask(k % 3, "%s-g%d" % (u, k),
           sasl="m%d@g%d.example" % (k, 1 + k % 2) if k % 3 else "",
           sender="w@g%d.example" % (1 + k % 2),
           client="192.0.2.9" if k % 3 else "127.0.0.1")), 6)
elif phase == "milter":
    # SMTP mail at the end of the message: theta.example's limit 4 over the three milters
    expect("milter: domain theta.example", count(6, lambda k: milter(k % 3, "Q%s%d" % (u[-6:], k),
           "m%d@theta.example" % k, auth="m%d@theta.example" % k)), 4)
    # local submissions of system user iweb (subscription iota, limit 3)
    expect("local milter: subscription iota", count(5, lambda k: milter(k % 3, "L%s%d" % (u[-6:], k),
           "iweb@relay.example", local=True)), 3)
    # the policy service and the milters share one count: theta.example is full for both
    expect("policy after the milter", count(1, lambda k: ask(k, "%s-t%d" % (u, k),
           sasl="p%d@theta.example" % k)), 0)
elif phase == "disabled":
    # relay 0's master switch is off: allowed past mu.example's limit of 1, and counted
    expect("relay 0 with the master switch off", count(2, lambda k: ask(0, "%s-u%d" % (u, k),
           sasl="d%d@mu.example" % k)), 2)
elif phase == "enabled":
    expect("mu.example on relay 1 after relay 0 sent 2", count(1, lambda k: ask(1, "%s-u%d" % (u, k),
           sasl="e%d@mu.example" % k)), 0)
elif phase == "noscript":
    # Redis forgot the script (SCRIPT FLUSH): EVAL, still shared
    expect("boss@beta.example after SCRIPT FLUSH", count(3, lambda k: ask(k % 3, "%s-b%d" % (u, k),
           sasl="boss@beta.example", sender="boss@beta.example")), 0)
elif phase == "badauth":
    # relay 3's password is refused: it decides alone (acme.example is full for the others)
    expect("relay 3 with a refused password", count(2, lambda k: ask(3, "%s-a%d" % (u, k),
           sasl="w%d@acme.example" % k)), 2)
elif phase == "server":
    # the server total (set to what all relays sent + 3): unknown senders, round-robin
    expect("server total", count(6, lambda k: ask(k % 3, "%s-s%d" % (u, k),
           sasl="x@unknown%d.example" % k, sender="x@unknown%d.example" % k)), 3)
elif phase == "stalled":
    # Redis stopped (SIGSTOP): the first request waits for the timeout (200 ms) at most, then
    # relay 2 decides alone at once; zeta.example's limit 3 holds locally
    times = []
    got = count(4, lambda k: (lambda r: (times.append(r[1]), r)[1])(ask(2, "%s-z%d" % (u, k),
                sasl="s%d@zeta.example" % k)))
    print("answers in %s s" % " ".join("%.3f" % t for t in times))
    # the first waited at most for the timeout (less when the relay's PING had already been
    # waiting); the next did not wait (each waiting 0.2 s would be 0.6 s)
    if times[0] > 0.5 or sum(times[1:]) > 0.3:
        raise SystemExit("unexpected answer times with Redis stopped")
    expect("local limit of relay 2 while Redis does not answer", got, 3)
elif phase == "unstalled":
    expect("zeta.example on relays 0 and 1", count(2, lambda k: ask(k, "%s-z%d" % (u, k),
           sasl="t%d@zeta.example" % k)), 0)
elif phase == "midrun":
    # requests on all three relays for 1.5 s while Redis is killed: every one answered
    n, t_end, slowest = 0, time.monotonic() + 1.5, 0.0
    while time.monotonic() < t_end and n < 2000:
        ok, dt = ask(n % 3, "%s-k%d" % (u, n), sasl="k%d@kappa.example" % n)
        slowest = max(slowest, dt)
        n += 1
        time.sleep(0.001)
    print("midrun: %d requests answered, slowest %.3f s" % (n, slowest))
    if n < 30:
        raise SystemExit("midrun: only %d requests" % n)
elif phase == "fake":
    # relay 4's "Redis" answers the script with nonsense: it decides alone (limit 2 of lambda)
    expect("relay 4 with a Redis answering nonsense", count(3, lambda k: ask(4, "%s-l%d" % (u, k),
           sasl="l%d@lambda.example" % k)), 2)
elif phase == "outage":
    # Redis is gone: relay 0 alone, limit 10 of delta.example, every answer within 1 s
    slow = []
    got = count(12, lambda k: (lambda r: (slow.append(r[1]), r)[1])(ask(0, "%s-d%d" % (u, k),
                sasl="o%d@delta.example" % k)))
    print("slowest answer %.3f s" % max(slow))
    expect("local limit of relay 0 while Redis is down", got, 10)
    # the other relays, alone too: epsilon.example 5 each
    expect("relay 1 alone", count(6, lambda k: ask(1, "%s-e%d" % (u, k),
           sasl="e%d@epsilon.example" % k)), 5)
elif phase == "rejoined":
    # Redis is back (empty) and the relays added their outage: delta.example is at 10
    expect("delta.example on relays 1 and 2", count(4, lambda k: ask(1 + k % 2, "%s-d%d" % (u, k),
           sasl="r%d@delta.example" % k)), 0)
    # epsilon.example: relay 1 admitted 5 alone: full everywhere
    expect("epsilon.example on relays 0 and 2", count(2, lambda k: ask(2 * (k % 2), "%s-e%d" % (u, k),
           sasl="r%d@epsilon.example" % k)), 0)
elif phase == "reloaded":
    expect("delta.example on relay 2 after a reload", count(2, lambda k: ask(2, "%s-d%d" % (u, k),
           sasl="y%d@delta.example" % k)), 0)
elif phase == "restarted":
    # relay 1 restarted without a state file: the shared counts (of the outage, added when
    # Redis came back) still hold
    expect("delta.example after relay 1 restarted", count(3, lambda k: ask(1, "%s-d%d" % (u, k),
           sasl="z%d@delta.example" % k)), 0)
    expect("epsilon.example after relay 1 restarted", count(1, lambda k: ask(1, "%s-e%d" % (u, k),
           sasl="z%d@epsilon.example" % k)), 0)
    # and a domain with room left is still served: beta.example has no domain limit
    expect("beta.example after relay 1 restarted", count(2, lambda k: ask(1, "%s-b%d" % (u, k),
           sasl="z%d@beta.example" % k)), 2)
EOF
send() { python3 "$T/send.py" "$1" "${PORTS[@]}" "${MPORTS[@]}" "${LPORTS[@]}" || fail "phase $1"; }
# a "Redis" that loads the script and then answers it with nonsense (a wrong reply length)
fake_redis() { # $1: port
    python3 - "$1" <<'EOF' &
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
while True:
    c, _ = srv.accept()
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        # whole commands only: *N, then N times $len and the bytes
        while True:
            try:
                if not buf.startswith(b"*"):
                    raise ValueError
                p = buf.index(b"\r\n")
                args, pos = [], p + 2
                for _ in range(int(buf[1:p])):
                    q = buf.index(b"\r\n", pos)
                    n = int(buf[pos + 1:q])
                    if len(buf) < q + 2 + n + 2:
                        raise IndexError
                    args.append(buf[q + 2:q + 2 + n])
                    pos = q + 2 + n + 2
            except (ValueError, IndexError):
                break
            buf = buf[pos:]
            if args[0].upper() == b"SCRIPT":
                c.sendall(b"$40\r\n" + b"0" * 40 + b"\r\n")
            else:
                c.sendall(b"*3\r\n:1\r\n:2\r\n:3\r\n")
    c.close()
EOF
    FPID=$!
}
CTL() { local i=$1; shift; "$MAILLIMITCTL" -s "$T/admin$i.sock" "$@"; }

start_redis
# 0. the script at chosen times
"$SCRIPT_DUMP" > "$T/script.lua" || fail "cannot print the script"
python3 "$(dirname "$0")/cluster_script.py" "$T/script.lua" "$RPORT" || fail "the script"
for i in 0 1 2; do start_relay $i; done
wait_logs "cluster: counters shared through Redis at inet:127.0.0.1:$RPORT" 1

# 1. shared limits
send shared
send milter
out=$(CTL 2 status domain acme.example) || fail "maillimitctl status"
echo "$out" | grep -Eq '^  all relays +10$' || fail "status of all relays: $out"
local_count=$(echo "$out" | sed -n 's/^  count *//p')
[ "$local_count" -lt 10 ] || fail "relay 2's own count $local_count (want less than 10)"
# the master switch off on one relay: everything allowed there, and counted for all
CTL 0 enable off > /dev/null || fail "enable off"
send disabled
CTL 0 enable on > /dev/null || fail "enable on"
send enabled
# Redis forgets the script: the relays run its text (EVAL) and load it again
python3 - "$RPORT" <<'EOF' || fail "SCRIPT FLUSH"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
s.sendall(b"SCRIPT FLUSH\r\n")
assert s.recv(64).startswith(b"+OK")
EOF
send noscript
# a relay whose password Redis refuses logs it and decides alone
start_relay 3 password=not-the-password
for _ in $(seq 100); do grep -q 'AUTH refused' "$T/log3" && break; sleep 0.05; done
grep -q 'cluster: Redis at .* unavailable (AUTH refused: ' "$T/log3" || fail "relay 3: no AUTH refused"
send badauth
kill -TERM "${PIDS[3]}"; wait "${PIDS[3]}" 2>/dev/null; PIDS[3]=0
# the server total: all relays sent S (status), its limit S + 3
sleep 0.2 # the unlimited server total is charged in batches of 100 ms
S=$(CTL 0 status server | sed -n 's/^  all relays *//p')
[ -n "$S" ] && [ "$S" -ge 20 ] || fail "the server total of all relays: '$S'"
for i in 0 1 2; do CTL $i limit set server server $((S + 3)) >/dev/null || fail "limit set"; done
send server
for i in 0 1 2; do CTL $i limit set server server unlimited >/dev/null || fail "limit unset"; done

# a relay whose Redis answers nonsense gives the connection up, says why, decides alone
FPORT=$(freeport)
fake_redis "$FPORT"
for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$FPORT" 2>/dev/null && break
    sleep 0.05
done
start_relay 4 "" "$FPORT"
for _ in $(seq 100); do grep -q 'counters shared through Redis' "$T/log4" && break; sleep 0.05; done
grep -q 'counters shared through Redis' "$T/log4" || fail "relay 4 did not load the script"
send fake
grep -q 'cluster: Redis at .* unavailable (unexpected reply to the script)' "$T/log4" ||
    fail "relay 4: the nonsense is not logged"
kill -TERM "${PIDS[4]}"; wait "${PIDS[4]}" 2>/dev/null; PIDS[4]=0
kill -KILL "$FPID"; wait "$FPID" 2>/dev/null; FPID=

# 2. Redis stalled (slow): relay 2 decides alone within the timeout, rejoins after SIGCONT
kill -STOP "$RPID"
send stalled
# relays 0 and 1 had nothing to ask: their PING (every second) finds Redis silent
for _ in $(seq 60); do
    grep -q 'unavailable (no answer to PING within 200 ms)' "$T/log0" &&
        grep -q 'unavailable (no answer to PING within 200 ms)' "$T/log1" && break
    sleep 0.05
done
for i in 0 1; do
    grep -q 'unavailable (no answer to PING within 200 ms)' "$T/log$i" ||
        fail "relay $i did not notice the silent Redis within 3 s"
done
kill -CONT "$RPID"
for _ in $(seq 100); do
    [ "$(grep -c 'answers again: shared counters' "$T/log0")" -ge 1 ] &&
        [ "$(grep -c 'answers again: shared counters' "$T/log1")" -ge 1 ] &&
        grep -qF "answers again: shared counters from now on; 3 decision(s)" "$T/log2" && break
    sleep 0.05
done
grep -qF "answers again: shared counters from now on; 3 decision(s)" "$T/log2" ||
    fail "relay 2 did not rejoin after SIGCONT"
for i in 0 1; do
    [ "$(grep -c 'answers again: shared counters' "$T/log$i")" -ge 1 ] ||
        fail "relay $i did not rejoin after SIGCONT"
done
send unstalled

# 3. Redis killed mid-run: requests on all relays while it dies are all answered
down0=$(grep -c 'cluster: Redis at .* unavailable' "$T/log0")
down1=$(grep -c 'cluster: Redis at .* unavailable' "$T/log1")
python3 "$T/send.py" midrun "${PORTS[@]}" "${MPORTS[@]}" "${LPORTS[@]}" > "$T/midrun.out" 2>&1 &
MIDRUN=$!
sleep 0.5
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null
RPID=
wait "$MIDRUN" || { cat "$T/midrun.out"; fail "requests while Redis was killed"; }
cat "$T/midrun.out"
send outage
out=$(CTL 0 status domain delta.example) || fail "maillimitctl status while Redis is down"
echo "$out" | grep -q '^  all relays   unknown (Redis does not answer)$' ||
    fail "status while Redis is down: $out"
[ "$(grep -c 'cluster: Redis at .* unavailable' "$T/log0")" = $((down0 + 1)) ] &&
    [ "$(grep -c 'cluster: Redis at .* unavailable' "$T/log1")" = $((down1 + 1)) ] ||
    fail "the outage is not logged exactly once by relays 0 and 1"

# 4. Redis back, empty: the relays rejoin and add the outage's decisions
before=()
for i in 0 1 2; do before[$i]=$(grep -c "answers again: shared counters" "$T/log$i"); done
start_redis
for _ in $(seq 100); do
    ok=1
    for i in 0 1 2; do
        [ "$(grep -c "answers again: shared counters" "$T/log$i")" -gt "${before[$i]}" ] || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.05
done
[ $ok = 1 ] || fail "not every relay rejoined Redis within 5 s"
send rejoined

# 5. a relay restarted keeps the shared counts
kill -TERM "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null
PIDS[1]=0
start_relay 1
for _ in $(seq 100); do
    [ "$(grep -cF "counters shared through Redis" "$T/log1")" -ge 2 ] && break
    sleep 0.05
done
send restarted
# a reload keeps the connection; a changed cluster_redis line waits for a restart
sed -i 's/ timeout=200 / timeout=300 /' "$T/ml2.conf"
CTL 2 reload > /dev/null || fail "reload of relay 2"
grep -q 'cluster_redis changes take effect at the next restart' "$T/log2" ||
    fail "relay 2: no warning for a changed cluster_redis"
send reloaded
# every relay stops cleanly (and, in a sanitizer build, without a report)
for i in 0 1 2; do
    kill -TERM "${PIDS[$i]}"
    wait "${PIDS[$i]}"
    rc=$?
    PIDS[$i]=0
    [ $rc = 0 ] || fail "relay $i exited with status $rc"
done
if grep -l 'Sanitizer\|runtime error' "$T"/log*; then fail "a sanitizer report"; fi
echo "PASS: cluster (3 relays, Redis killed and back, relay restarted)"
