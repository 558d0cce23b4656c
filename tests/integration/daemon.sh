#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test of maillimitd itself (no MTA, no root): the policy protocol over TCP and a
# unix socket, bad clients, bounds, the idle timeout, the connection cap, SIGHUP reload and
# maillimitctl end to end.
#
#   daemon.sh MAILLIMITD MAILLIMITCTL
set -u
MAILLIMITD=${1:?usage: daemon.sh MAILLIMITD MAILLIMITCTL}
MAILLIMITCTL=${2:?usage: daemon.sh MAILLIMITD MAILLIMITCTL}
command -v python3 >/dev/null || { echo "FAIL (cannot run): needs python3"; exit 1; }

T=$(mktemp -d /tmp/maillimitd-test.XXXXXX)
PID=
fail() {
    echo "FAIL: $*"
    echo "---- maillimitd log"; tail -40 "$T/log"
    exit 1
}
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CTL() { "$MAILLIMITCTL" -s "$T/admin.sock" "$@"; }

write_conf() { # $1: the domain limit
    cat > "$T/ml.conf" <<EOF
policy_listen inet:127.0.0.1:$PORT
policy_listen unix:$T/policy.sock mode=0660
admin_listen unix:$T/admin.sock
state_file none
policy_idle_timeout 2
policy_max_connections 4
server mailbox=100 domain=500 subscription=1000
subscription acme
domain acme.example subscription=acme domain=$1
EOF
}
write_conf 3
"$MAILLIMITD" -f -c "$T/ml.conf" > "$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do CTL ping >/dev/null 2>&1 && break; sleep 0.1; done
CTL ping >/dev/null || fail "maillimitd did not start"
[ "$(stat -c %a "$T/admin.sock")" = 600 ] || fail "admin socket mode $(stat -c %a "$T/admin.sock")"
[ "$(stat -c %a "$T/policy.sock")" = 660 ] || fail "policy socket mode"

python3 - "$PORT" "$T/policy.sock" > "$T/py.out" 2>&1 <<'EOF' || { cat "$T/py.out"; fail "policy clients"; }
import socket, sys, time
port, upath = int(sys.argv[1]), sys.argv[2]

def tcp():
    s = socket.create_connection(("127.0.0.1", port), 2)
    s.settimeout(3)
    return s

def req(inst, state="RCPT", sender="www@acme.example", client="127.0.0.1", extra=""):
    return ("request=smtpd_access_policy\nprotocol_state=%s\ninstance=%s\nclient_address=%s\n"
            "sender=%s\n%s\n" % (state, inst, client, sender, extra)).encode()

def reply(s):
    buf = b""
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            raise SystemExit("connection closed, got %r" % buf)
        buf += d
    return buf.decode()

def closed(s):
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True

a = tcp()
a.sendall(req("m1"))
assert reply(a) == "action=DUNNO\n\n"
# pipelined: two messages in one write, two replies in order
a.sendall(req("m2") + req("m3"))
r = reply(a)
if r.count("\n\n") < 2:
    r += reply(a)
assert r == "action=DUNNO\n\naction=DUNNO\n\n", r
# the 4th message is over the domain's limit of 3; the same message again: same answer
a.sendall(req("m4"))
r = reply(a)
assert r.startswith("action=450 4.7.0 Message limit reached: domain acme.example reached its "
                    "limit of 3 messages per hour; retry in "), r
a.sendall(req("m4", state="END-OF-MESSAGE", extra="recipient_count=1\n"))
assert reply(a) == r
# inbound mail (not local, not authenticated) passes
a.sendall(req("in1", client="198.51.100.9"))
assert reply(a) == "action=DUNNO\n\n"
print("policy requests: ok")

# garbage: closed; the good connection goes on
b = tcp()
b.sendall(b"GET / HTTP/1.0\r\n\r\n")
assert closed(b), "garbage client not closed"
c = tcp()
c.sendall(b"sender=" + b"x" * 3000 + b"\n")
assert closed(c), "long-line client not closed"
a.sendall(req("in2", client="198.51.100.9"))
assert reply(a) == "action=DUNNO\n\n"
print("bad clients closed, others unaffected: ok")

# a request split over several writes
d = tcp()
data = req("in3", client="198.51.100.9")
for i in range(0, len(data), 7):
    d.sendall(data[i:i + 7])
    time.sleep(0.01)
assert reply(d) == "action=DUNNO\n\n"
d.close()

# the unix socket speaks the same protocol
u = socket.socket(socket.AF_UNIX)
u.connect(upath)
u.settimeout(3)
u.sendall(req("in4", client="198.51.100.9"))
assert reply(u) == "action=DUNNO\n\n"
print("split request and unix socket: ok")

# connection cap (4): a, u, + 2 more; the 5th is closed at once
e = tcp(); f = tcp()
for s in (e, f):
    s.sendall(req("in5", client="198.51.100.9"))
    assert reply(s) == "action=DUNNO\n\n"
g = tcp()
assert closed(g), "connection over the cap not closed"
a.sendall(req("in6", client="198.51.100.9"))
assert reply(a) == "action=DUNNO\n\n"
print("connection cap: ok")

# idle timeout (2 s): an idle connection is closed by the server
e.settimeout(6)
t0 = time.time()
assert closed(e), "idle connection not closed"
assert 1.5 <= time.time() - t0 <= 5, time.time() - t0
print("idle timeout: ok")
EOF
cat "$T/py.out"
grep -q "a line without '='" "$T/log" || fail "garbage not logged"
grep -q "line too long" "$T/log" || fail "long line not logged"
grep -q "too many connections" "$T/log" || fail "connection cap not logged"
grep -q "deny: domain acme.example" "$T/log" || fail "denial not logged"

# ---- maillimitctl -------------------------------------------------------------------------------
CTL status domain acme.example > "$T/st" || fail "ctl status"
grep -q "not sending" "$T/st" || fail "status: $(cat "$T/st")"
CTL --json status domain acme.example | grep -q '"count":3,' || fail "ctl --json status"
CTL add domain beta.example acme || fail "ctl add domain"
CTL limit set domain beta.example mailbox 7 || fail "ctl limit set"
[ "$(CTL limit get mailbox x@beta.example 2>&1)" != "" ] || true
[ "$(CTL limit value domain beta.example mailbox)" = 7 ] || fail "ctl limit value"
[ "$(CTL limit value domain beta.example mailbox.day)" = default ] || fail "ctl limit value .day"
CTL limit set server server.day 100000 || fail "ctl limit set server"
[ "$(CTL limit get server day)" = 100000 ] || fail "ctl limit get server day"
CTL flag set subscription acme sendmail no || fail "ctl flag set"
CTL --json flag get subscription acme sendmail | grep -q '"effective":0' || fail "ctl flag get"
CTL decide mailbox joe@beta.example > "$T/dec" || fail "ctl decide"
grep -q "allow" "$T/dec" || fail "decide: $(cat "$T/dec")"
CTL remove domain nosuch.example 2> "$T/err" && fail "ctl remove of a missing domain succeeded"
rc=0; CTL remove domain nosuch.example 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "ctl exit status $rc on a daemon error"
[ "$(cat "$T/err")" = "maillimitctl: remove: domain nosuch.example: not found" ] ||
    fail "ctl error text: $(cat "$T/err")"
# errors name the object and the reason; values are checked as the configuration file does
ctl_fails() { # EXIT-STATUS EXPECTED-STDERR ARGS...
    local want=$1 text=$2 rc=0
    shift 2
    CTL "$@" > /dev/null 2> "$T/err" || rc=$?
    [ "$rc" = "$want" ] || fail "ctl $*: exit status $rc, not $want"
    [ "$(head -1 "$T/err")" = "$text" ] || fail "ctl $*: stderr $(cat "$T/err")"
}
ctl_fails 1 "maillimitctl: limit set: mailbox nosuch@x.example: not found" \
    limit set mailbox nosuch@x.example mailbox 5
ctl_fails 1 "maillimitctl: add: subscription nosuch: not found" add domain x.example nosuch
ctl_fails 2 "maillimitctl: limit set: value \"99999999999999999999\" for key \"mailbox\" is too large (at most 9223372036854775807)" \
    limit set domain beta.example mailbox 99999999999999999999
ctl_fails 2 "maillimitctl: limit set: bad value \"-1\" for key \"mailbox.day\" (expected a number, \"unlimited\" or \"default\")" \
    limit set domain beta.example mailbox.day -1
ctl_fails 2 "maillimitctl: limit set: \"default\" is not allowed for key \"server\" on the server (the server has nothing to inherit from; use a number or \"unlimited\")" \
    limit set server server default
ctl_fails 2 "maillimitctl: flag set: bad value \"true\" for key \"exempt\" (expected yes, no or default)" \
    flag set domain beta.example exempt true
ctl_fails 1 "maillimitctl: flag set: domain beta.example: has no sendmail flag (sendmail is set on the server, plans and subscriptions)" \
    flag set domain beta.example sendmail no
ctl_fails 2 "maillimitctl: history: HOURS \"0\": a number 1..87600" history domain beta.example 0
[ "$(CTL limit value domain beta.example mailbox)" = 7 ] || fail "a refused value changed the limit"
for v in yes on 1; do
    CTL flag set domain beta.example exempt $v || fail "ctl flag set $v"
    CTL --json flag get domain beta.example exempt | grep -q '"configured":1}' || fail "flag $v"
done
for v in no off 0; do
    CTL flag set domain beta.example exempt $v || fail "ctl flag set $v"
    CTL --json flag get domain beta.example exempt | grep -q '"configured":0}' || fail "flag $v"
done
CTL flag set domain beta.example exempt default || fail "ctl flag set default"
CTL --help | grep -q "sendmail|exempt yes|no|default" || fail "help: flag values"
CTL --help | grep -q "^Exit status: 0 success; 1 the daemon refused" || fail "help: exit status"
# list: placement, state, count, limits; one round trip per page
CTL list domain > "$T/list" || fail "ctl list domain"
cat > "$T/want" <<'EOT'
name          parent  state                 count  limit  set/hour  set/day
acme.example  acme    not sending (domain)      3      3         3  default
beta.example  acme    sending                   1    500   default  default
EOT
diff "$T/want" "$T/list" || fail "ctl list domain"
CTL list mailbox in domain beta.example > "$T/list" || fail "ctl list mailbox in"
[ "$(cat "$T/list")" = "(none)" ] || fail "ctl list mailbox in: $(cat "$T/list")"
CTL list mailbox in subscription acme --implicit > "$T/list" || fail "ctl list --implicit"
cat > "$T/want" <<'EOT'
name                         parent        state    count  limit  set/hour  set/day
joe@beta.example (implicit)  beta.example  sending      1      7   default  default
EOT
diff "$T/want" "$T/list" || fail "ctl list --implicit"
CTL list subscription --json > "$T/list" || fail "ctl list --json"
grep -q '^{"entities":\[{"level":"subscription","name":"acme","parent":"","implicit":false,"limits":{"subscription":{"hour":-2,"day":-2},"domain":{"hour":-2,"day":-2},"mailbox":{"hour":-2,"day":-2}},"flags":{"sendmail":0,"exempt":-2},"status":{"sending":true,"blocked_by":null,"count":4,"limit":1000,' "$T/list" ||
    fail "ctl list --json: $(cat "$T/list")"
grep -q '],"total":1,"generation":[0-9]*}$' "$T/list" || fail "ctl list --json: $(cat "$T/list")"
ctl_fails 1 "maillimitctl: list: subscription nosuch: not found" list domain in subscription nosuch
ctl_fails 2 "maillimitctl: list: wrong number of arguments" list domain in subscription
rc=0; CTL bogus 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "ctl exit status $rc on a usage error"
rc=0; "$MAILLIMITCTL" -s "$T/nosuch.sock" ping 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "ctl exit status $rc without a daemon"
CTL stats | grep -q "deny" || fail "ctl stats"
echo "maillimitctl: ok"

# ---- reload -------------------------------------------------------------------------------------
write_conf 5
kill -HUP "$PID"
for _ in $(seq 30); do grep -q "configuration reloaded" "$T/log" && break; sleep 0.1; done
grep -q "configuration reloaded" "$T/log" || fail "SIGHUP did not reload"
CTL --json status domain acme.example > "$T/st2"
grep -q '"count":3,' "$T/st2" || fail "reload lost the count: $(cat "$T/st2")"
grep -q '"limit":5,' "$T/st2" || fail "reload did not apply the new limit: $(cat "$T/st2")"
[ "$(CTL limit value domain beta.example mailbox)" = 7 ] || fail "reload removed what ctl set"
echo "bogus_directive 1" >> "$T/ml.conf"
CTL reload 2> "$T/err" && fail "reload of a bad file succeeded"
grep -q "ml.conf:10: " "$T/err" || fail "reload error: $(cat "$T/err")"
kill -HUP "$PID"
for _ in $(seq 30); do grep -q "reload failed" "$T/log" && break; sleep 0.1; done
grep -q "reload failed, the running configuration stays" "$T/log" || fail "bad reload not logged"
CTL ping >/dev/null || fail "maillimitd died on a bad reload"
echo "reload: ok"

# ---- stop ---------------------------------------------------------------------------------------
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
[ ! -e "$T/admin.sock" ] && [ ! -e "$T/policy.sock" ] || fail "sockets left behind"
grep -q "stopped" "$T/log" || fail "no 'stopped' in the log"
echo "PASS"
