#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test: maillimitd in front of a real Postfix (Debian's package).
#
#   postfix.sh MAILLIMITD MAILLIMITCTL
#
# 1. maillimitd on a loopback port, with domain acme.example limited to N messages per hour.
# 2. A private Postfix instance (its own config, queue and data directories under a temp dir;
#    smtpd on 127.0.0.1:<port>, never port 25; delivery to discard:) whose
#    smtpd_recipient_restrictions start with check_policy_service pointing at maillimitd.
#    The system's Postfix is neither used nor started.
# 3. Postfix's own smtp-source sends N+3 messages from sender@acme.example (script mail from
#    127.0.0.1: attributed to the domain): exactly N are accepted, the rest refused with
#    "450 4.7.0 ... Message limit reached: domain acme.example reached its limit of N ...".
#    A message sent at END-OF-MESSAGE stage too is counted once (policy at RCPT and EOM).
# 4. maillimitctl reads the domain's status over the admin socket (count N, not sending).
# 5. maillimitd restarts (SIGTERM saves the snapshot): the count is kept, the next message is
#    still refused.
#
# Needs root (Postfix's master runs as root) and postfix installed; without them it fails
# (exit 1). Everything it starts is stopped on exit. Runs in a few seconds.
set -u
. "$(dirname "$0")/postfix_private.sh"
MAILLIMITD=${1:?usage: postfix.sh MAILLIMITD MAILLIMITCTL}
MAILLIMITCTL=${2:?usage: postfix.sh MAILLIMITD MAILLIMITCTL}
N=5

# A missing prerequisite is a failure, not a skip: CI must run this test.
skip() { echo "FAIL (cannot run): $*"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (Postfix's master runs as root)"
command -v postfix >/dev/null || [ -x /usr/sbin/postfix ] || skip "postfix is not installed"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
command -v smtp-source >/dev/null || skip "smtp-source (package postfix) not found"
id postfix >/dev/null 2>&1 || skip "no postfix user"

T=$(mktemp -d /tmp/maillimit-postfix.XXXXXX)
chmod 755 "$T"
MLPID=
fail() {
    echo "FAIL: $*"
    echo "---- maillimitd log"; cat "$T/maillimitd.log" 2>/dev/null | tail -40
    echo "---- postfix log"; tail -40 "$T/maillog" 2>/dev/null
    exit 1
}
cleanup() {
    [ -n "$MLPID" ] && kill -TERM "$MLPID" 2>/dev/null && wait "$MLPID" 2>/dev/null
    postfix_private_stop "$T"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
POLICY_PORT=$(free_port)
SMTP_PORT=$(free_port)

# ---- maillimitd ---------------------------------------------------------------------------------
cat > "$T/maillimit.conf" <<EOF
policy_listen inet:127.0.0.1:$POLICY_PORT
admin_listen unix:$T/maillimitd.sock mode=0600
state_file $T/state.snap
snapshot_interval 0
action defer
local_network 127.0.0.0/8 ::1
server mailbox=100 domain=500 subscription=1000
subscription acme
domain acme.example subscription=acme domain=$N
EOF
start_maillimitd() {
    "$MAILLIMITD" -f -c "$T/maillimit.conf" >> "$T/maillimitd.log" 2>&1 &
    MLPID=$!
    for _ in $(seq 50); do
        "$MAILLIMITCTL" -s "$T/maillimitd.sock" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "maillimitd did not start"
}
"$MAILLIMITD" --check-config -c "$T/maillimit.conf" || fail "maillimitd --check-config"
start_maillimitd

# ---- a private Postfix ------------------------------------------------------------------------
postfix_private_init "$T" mx.test.example test.example
cat >> "$T/etc/main.cf" <<EOF
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_recipient_restrictions = check_policy_service { inet:127.0.0.1:$POLICY_PORT, default_action=DUNNO }, permit_mynetworks, reject
smtpd_end_of_data_restrictions = check_policy_service { inet:127.0.0.1:$POLICY_PORT, default_action=DUNNO }
EOF
postfix_private_smtpd "$T" "$SMTP_PORT"
postfix_private_start "$T"
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$SMTP_PORT),1).close()" \
        2>/dev/null && break
    sleep 0.1
done

# ---- send -----------------------------------------------------------------------------------------
# One message per smtp-source run; smtp-source exits non-zero when the server refuses.
send() {
    smtp-source -s 1 -m 1 -f sender@acme.example -t "rcpt$1@remote.example" \
        -M client.test.example "127.0.0.1:$SMTP_PORT" > "$T/send.$1.out" 2>&1
}
accepted=0
refused=0
for i in $(seq $((N + 3))); do
    if send "$i"; then
        accepted=$((accepted + 1))
    else
        refused=$((refused + 1))
        grep -q "450 4.7.0" "$T/send.$i.out" ||
            { cat "$T/send.$i.out"; fail "message $i refused without 450 4.7.0"; }
    fi
done
echo "sent $((N + 3)) messages: $accepted accepted, $refused refused"
[ "$accepted" = "$N" ] || fail "expected $N accepted, got $accepted"
[ "$refused" = 3 ] || fail "expected 3 refused, got $refused"
want="Message limit reached: domain acme.example reached its limit of $N messages per hour; retry in"
grep -h "450" "$T"/send.*.out | head -1
grep -q "$want" "$T"/send.*.out || fail "the refusal does not say: $want"
# Postfix's own log has the refusal with the same text
for _ in $(seq 20); do grep -q "reject: RCPT" "$T/maillog" && break; sleep 0.1; done
grep "reject: RCPT" "$T/maillog" | head -1
grep -q "reject: RCPT.*450 4.7.0.*$want" "$T/maillog" || fail "no refusal in Postfix's log"
# Each accepted message was checked at RCPT and at END-OF-MESSAGE, each refused one at RCPT
# only: 2N + 3 policy requests, yet the domain's count is N (one per message, by instance).
stats=$("$MAILLIMITCTL" -s "$T/maillimitd.sock" --json stats) || fail "maillimitctl stats"
echo "$stats"
echo "$stats" | grep -q "\"requests\":$((2 * N + 3))," ||
    fail "expected $((2 * N + 3)) policy requests (RCPT + END-OF-MESSAGE)"

# ---- the admin protocol ---------------------------------------------------------------------------
"$MAILLIMITCTL" -s "$T/maillimitd.sock" status domain acme.example || fail "maillimitctl status"
json=$("$MAILLIMITCTL" -s "$T/maillimitd.sock" --json status domain acme.example)
echo "$json"
echo "$json" | grep -q "\"sending\":false" || fail "domain should be not sending"
echo "$json" | grep -q "\"count\":$N," || fail "domain count should be $N"
"$MAILLIMITCTL" -s "$T/maillimitd.sock" limit get domain nosuch.example 2>"$T/ctl.err" &&
    fail "maillimitctl should fail for an unknown domain"
grep -q "not found" "$T/ctl.err" || fail "maillimitctl error message: $(cat "$T/ctl.err")"

# ---- restart: the count survives ----------------------------------------------------------------
"$MAILLIMITCTL" -s "$T/maillimitd.sock" snapshot 2>"$T/snap.err" ||
    fail "maillimitctl snapshot: $(cat "$T/snap.err")"
kill -TERM "$MLPID"
wait "$MLPID"
MLPID=
[ -s "$T/state.snap" ] || fail "no state file after SIGTERM"
start_maillimitd
send restart && fail "the message after the restart was accepted (count lost)"
grep -q "$want" "$T/send.restart.out" || fail "after the restart: $(cat "$T/send.restart.out")"
echo "after a restart of maillimitd the next message is still refused"
# a reset over the admin protocol unblocks
"$MAILLIMITCTL" -s "$T/maillimitd.sock" reset domain acme.example || fail "reset"
send after-reset || fail "after reset the message should be accepted"
echo "after maillimitctl reset the domain sends again"
echo "PASS"
