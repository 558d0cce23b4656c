#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test: maillimitd's milters in a real Postfix (Debian's package): script and cron
# mail through Postfix's sendmail, attributed by Unix user, and SMTP mail at END-OF-MESSAGE.
#
#   milter.sh MAILLIMITD MAILLIMITCTL
#
# 1. Unix users made for the test: mlt_acme and mlt_beta (system users of subscriptions acme
#    and beta, each limited to N messages per hour), mlt_web (a script_users login), mlt_other
#    (not configured). They are removed on exit.
# 2. maillimitd with milter_listen and local_milter_listen on loopback ports, writing the
#    local_login_sender_maps table; a private Postfix (its own config, queue and data
#    directories; smtpd on a free loopback port; delivery to discard:) with smtpd_milters,
#    non_smtpd_milters and local_login_sender_maps = texthash:TABLE, static:*. The private
#    config directory is listed in the default main.cf's alternate_config_directories so that
#    the users can run `sendmail -C DIR` (restored on exit); nothing else of the host's
#    Postfix is touched.
# 3. Each system user runs sendmail N+K times (some with its own domain, the rest with its
#    default sender): exactly N are delivered and K wait in the hold queue, per user. A sender
#    in another customer's domain is refused by postdrop (nothing queued or charged). The
#    script user is charged to its sender's domain; the unconfigured user is unattributed.
# 4. SMTP: N+K messages of 3 recipients each through smtpd: N accepted, K deferred at the end
#    of data with the limit's text, the domain's count is N (each message counted once).
# 5. maillimitd restarted: the counts stay (the next message is held). maillimitd stopped:
#    mail still flows (milter_default_action = accept).
#
# Needs root (users, Postfix's master) and postfix installed. A missing prerequisite is a
# failure (exit 1), not a skip. Everything it starts or changes is undone on exit.
set -u
. "$(dirname "$0")/postfix_private.sh"
MAILLIMITD=${1:?usage: milter.sh MAILLIMITD MAILLIMITCTL}
MAILLIMITCTL=${2:?usage: milter.sh MAILLIMITD MAILLIMITCTL}
N=5
K=2
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

T=$(mktemp -d /tmp/maillimit-milter.XXXXXX)
chmod 755 "$T"
MLPID=
USERS=(mlt_acme mlt_beta mlt_web mlt_other)
MAINCF=/etc/postfix/main.cf
ALT_SAVED=
MAINCF_MADE=
fail() {
    echo "FAIL: $*"
    echo "---- maillimitd log"; tail -40 "$T/maillimitd.log" 2>/dev/null
    echo "---- postfix log"; tail -60 "$T/maillog" 2>/dev/null
    exit 1
}
cleanup() {
    [ -n "$MLPID" ] && kill -TERM "$MLPID" 2>/dev/null && wait "$MLPID" 2>/dev/null
    postfix_private_stop "$T"
    if [ -n "$MAINCF_MADE" ]; then
        rm -f "$MAINCF"
    elif [ -n "$ALT_SAVED" ]; then
        postconf -e "alternate_config_directories = $(cat "$T/alt.saved")" 2>/dev/null
    fi
    for u in "${USERS[@]}"; do
        id "$u" >/dev/null 2>&1 && userdel "$u" >/dev/null 2>&1
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || fail "needs root (test users, Postfix's master)"
command -v postfix >/dev/null || fail "postfix is not installed"
command -v smtp-source >/dev/null || fail "smtp-source (package postfix) not found"
command -v runuser >/dev/null || fail "runuser (util-linux) not found"
id postfix >/dev/null 2>&1 || fail "no postfix user"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
SMTP_PORT=$(free_port)
MILTER_PORT=$(free_port)
LOCAL_PORT=$(free_port)
ORIGIN=mx.test.example

# ---- users ------------------------------------------------------------------------------------
for u in "${USERS[@]}"; do
    id "$u" >/dev/null 2>&1 && userdel "$u" >/dev/null 2>&1
    useradd -M -N -d /nonexistent -s /bin/sh "$u" || fail "cannot create user $u"
done

# ---- maillimitd ---------------------------------------------------------------------------------
cat > "$T/maillimit.conf" <<EOF
policy_listen none
admin_listen unix:$T/maillimitd.sock mode=0600
milter_listen inet:127.0.0.1:$MILTER_PORT
local_milter_listen inet:127.0.0.1:$LOCAL_PORT
local_login_sender_map_file $T/sender_logins
local_origin $ORIGIN
script_users mlt_web
state_file $T/state.snap
snapshot_interval 0
local_network 127.0.0.0/8
server mailbox=100 domain=500 subscription=1000
subscription acme subscription=$N
domain acme.example subscription=acme
domain shop.example subscription=acme
sysuser mlt_acme subscription=acme
subscription beta subscription=$N
domain beta.example subscription=beta
sysuser mlt_beta subscription=beta
subscription web
domain web.example subscription=web domain=$N
subscription smtp
domain smtp.example subscription=smtp domain=$N
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
ctl() { "$MAILLIMITCTL" -s "$T/maillimitd.sock" "$@"; }

# The sender table, exactly
cat > "$T/sender_logins.expected" <<EOF
mlt_acme	mlt_acme, mlt_acme@$ORIGIN, @acme.example, @shop.example
mlt_beta	mlt_beta, mlt_beta@$ORIGIN, @beta.example
EOF
grep -v '^#' "$T/sender_logins" > "$T/sender_logins.body"
diff -u "$T/sender_logins.expected" "$T/sender_logins.body" || fail "local_login_sender_map_file"
[ "$(stat -c %a "$T/sender_logins")" = 644 ] || fail "the sender table is not mode 0644"
# a change through the admin protocol rewrites it at once; undone the same way
ctl add domain extra.example beta >/dev/null || fail "maillimitctl add domain"
grep -qx "mlt_beta	mlt_beta, mlt_beta@$ORIGIN, @beta.example, @extra.example" "$T/sender_logins" ||
    fail "the table was not rewritten after 'add domain': $(cat "$T/sender_logins")"
ctl remove domain extra.example >/dev/null || fail "maillimitctl remove domain"
grep -v '^#' "$T/sender_logins" > "$T/sender_logins.body"
diff -u "$T/sender_logins.expected" "$T/sender_logins.body" ||
    fail "the table was not rewritten after 'remove domain'"

# ---- a private Postfix ------------------------------------------------------------------------
postfix_private_init "$T" "$ORIGIN" test.example
cat >> "$T/etc/main.cf" <<EOF
smtpd_milters = inet:127.0.0.1:$MILTER_PORT
non_smtpd_milters = inet:127.0.0.1:$LOCAL_PORT
milter_default_action = accept
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 10s
local_login_sender_maps = texthash:$T/sender_logins, static:*
EOF
postfix_private_smtpd "$T" "$SMTP_PORT"
# let non-root users run sendmail -C $T/etc (the one change to the default main.cf)
if [ ! -f "$MAINCF" ]; then
    MAINCF_MADE=1
    echo "alternate_config_directories = $T/etc" > "$MAINCF"
else
    postconf -h alternate_config_directories > "$T/alt.saved" 2>/dev/null || : > "$T/alt.saved"
    ALT_SAVED=1
    old=$(cat "$T/alt.saved")
    postconf -e "alternate_config_directories = ${old:+$old, }$T/etc" ||
        fail "cannot list $T/etc in alternate_config_directories"
fi
postfix_private_start "$T"
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$SMTP_PORT),1).close()" \
        2>/dev/null && break
    sleep 0.1
done

# ---- helpers ------------------------------------------------------------------------------------
# sendmail as a user: sm USER [SENDMAIL ARGS...]; the message names the user.
sm() {
    local u=$1
    shift
    printf 'Subject: test from %s\n\nhello\n' "$u" |
        runuser -u "$u" -- /usr/sbin/sendmail -C "$T/etc" "$@" rcpt@remote.example
}
# Wait until Postfix has taken every submission in and milter decisions reached TOTAL.
settle() {
    local want=$1
    for _ in $(seq 200); do
        local n
        n=$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["milter_messages"])')
        if [ "$n" -ge "$want" ] &&
           [ -z "$(find "$T/spool/maildrop" -type f -perm -u+x 2>/dev/null)" ] &&
           [ -z "$(ls -A "$T/spool/incoming" 2>/dev/null)" ] &&
           [ -z "$(ls -A "$T/spool/active" 2>/dev/null)" ]; then
            [ "$n" -eq "$want" ] || fail "expected $want milter decisions, saw $n"
            return 0
        fi
        sleep 0.1
    done
    fail "Postfix did not settle (milter decisions: want $want)"
}
# held SENDER: messages of that envelope sender in the hold queue
held() {
    postqueue -c "$T/etc" -j 2>/dev/null |
        python3 -c 'import json,sys
want=sys.argv[1]
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l)["queue_name"]=="hold" and json.loads(l)["sender"]==want))' "$1"
}
# delivered SENDER: "status=sent" deliveries (to discard:) of that sender
delivered() {
    python3 - "$T/maillog" "$1" <<'PY'
import re, sys
log, want = sys.argv[1], sys.argv[2]
qid_sender = {}
n = 0
for line in open(log, errors="replace"):
    m = re.search(r"\]: ([0-9A-F]+): from=<([^>]*)>", line)
    if m:
        qid_sender[m.group(1)] = m.group(2)
    m = re.search(r"\]: ([0-9A-F]+): to=<[^>]*>.*status=sent", line)
    if m and qid_sender.get(m.group(1)) == want:
        n += 1
print(n)
PY
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
expect() { [ "$2" = "$3" ] || fail "$1: expected $3, got $2"; }

decisions=0
# ---- 3. local submissions: system users -------------------------------------------------------
for u in acme beta; do
    for i in $(seq $((N + K))); do
        if [ "$i" -le 2 ]; then
            sm "mlt_$u" -f "script@$u.example" || fail "sendmail as mlt_$u -f script@$u.example"
        else
            sm "mlt_$u" || fail "sendmail as mlt_$u"
        fi
    done
    decisions=$((decisions + N + K))
    settle $decisions
done
for u in acme beta; do
    h=$(( $(held "mlt_$u@$ORIGIN") + $(held "script@$u.example") ))
    d=$(( $(delivered "mlt_$u@$ORIGIN") + $(delivered "script@$u.example") ))
    echo "system user mlt_$u: $((N + K)) submitted, $d delivered, $h held"
    expect "mlt_$u delivered" "$d" "$N"
    expect "mlt_$u held" "$h" "$K"
    expect "subscription $u count" "$(ctl --json status subscription $u | json_field count)" "$N"
done
grep -q "hold: local submission: queue id [0-9A-F]*: system user mlt_acme (subscription acme): subscription acme: subscription hour count=$N limit=$N" \
    "$T/maillimitd.log" || fail "no hold line naming queue id, user, entity, count and limit"
grep -q "Message limit reached: the subscription of user mlt_acme reached its limit of $N messages per hour" \
    "$T/maillimitd.log" || fail "the hold text"

# a sender in another customer's domain: postdrop refuses, nothing is queued or charged
before=$(ctl --json stats | json_field milter_messages)
if sm mlt_acme -f "intruder@beta.example" 2>"$T/intruder.err"; then
    fail "postdrop accepted mlt_acme with a sender in beta.example"
fi
cat "$T/intruder.err"
grep -qi "not owned by\|not allowed\|not authorized" "$T/intruder.err" ||
    fail "postdrop's refusal does not say why: $(cat "$T/intruder.err")"
# postdrop leaves the file it had begun, incomplete (not owner-executable): pickup never
# takes such a file
[ -z "$(find "$T/spool/maildrop" -type f -perm -u+x)" ] ||
    fail "the refused submission is queued: $(ls -la "$T/spool/maildrop")"
expect "milter decisions after the refused submission" "$(ctl --json stats | json_field milter_messages)" "$before"
expect "subscription beta count" "$(ctl --json status subscription beta | json_field count)" "$N"

# the script user: charged to its sender's domain; its default sender is unattributed
for i in $(seq $((N + 1))); do
    sm mlt_web -f "contact@web.example" || fail "sendmail as mlt_web"
done
sm mlt_web || fail "sendmail as mlt_web (default sender)"
decisions=$((decisions + N + 2))
settle $decisions
expect "web.example delivered" "$(delivered contact@web.example)" "$N"
expect "web.example held" "$(held contact@web.example)" 1
expect "domain web.example count" "$(ctl --json status domain web.example | json_field count)" "$N"
expect "mlt_web default sender delivered" "$(delivered "mlt_web@$ORIGIN")" 1

# a user maillimitd does not know: unattributed, never held
sm mlt_other || fail "sendmail as mlt_other"
sm mlt_other -f "someone@nowhere.example" || fail "sendmail as mlt_other -f"
decisions=$((decisions + 2))
settle $decisions
expect "mlt_other delivered" "$(( $(delivered "mlt_other@$ORIGIN") + $(delivered someone@nowhere.example) ))" 2
stats=$(ctl --json stats)
echo "$stats"
expect "milter_unattributed" "$(echo "$stats" | json_field milter_unattributed)" 3
grep -q "local submission: queue id [0-9A-F]*: unattributed (counted in the server total only): sender=<mlt_other@$ORIGIN>" \
    "$T/maillimitd.log" || fail "no log line for unattributed mail"

# ---- 4. SMTP at the end of the message: 3 recipients each, counted once -------------------------
accepted=0
refused=0
for i in $(seq $((N + K))); do
    if smtp-source -s 1 -m 1 -r 3 -f "news@smtp.example" -t "rcpt$i@remote.example" \
        -M client.test.example "127.0.0.1:$SMTP_PORT" > "$T/smtp.$i.out" 2>&1; then
        accepted=$((accepted + 1))
    else
        refused=$((refused + 1))
    fi
done
decisions=$((decisions + N + K))
settle $decisions
echo "SMTP: $((N + K)) messages of 3 recipients: $accepted accepted, $refused refused"
expect "SMTP accepted" "$accepted" "$N"
expect "SMTP refused" "$refused" "$K"
want="Message limit reached: domain smtp.example reached its limit of $N messages per hour"
grep -q "milter-reject: END-OF-MESSAGE from .*: 4.7.0 $want" "$T/maillog" ||
    fail "Postfix's log does not show: milter-reject: END-OF-MESSAGE ... 4.7.0 $want"
cat "$T/smtp.$((N + 1)).out"
grep -q "450 4.7.0 $want" "$T/smtp.$((N + 1)).out" || fail "the client did not get 450 4.7.0 $want"
expect "domain smtp.example count" "$(ctl --json status domain smtp.example | json_field count)" "$N"
expect "smtp.example deliveries (3 recipients each)" "$(delivered news@smtp.example)" $((3 * N))

# ---- 5. restart keeps the counts; a stopped maillimitd lets mail through ------------------------
held_before=$(held "mlt_acme@$ORIGIN")
kill -TERM "$MLPID"
wait "$MLPID"
MLPID=
start_maillimitd
sm mlt_acme || fail "sendmail as mlt_acme after the restart"
settle 1 # the counters of the new process start at 0
expect "mlt_acme held after the restart" "$(held "mlt_acme@$ORIGIN")" $((held_before + 1))
echo "after a restart of maillimitd the next message of mlt_acme is held"
kill -TERM "$MLPID"
wait "$MLPID"
MLPID=
before=$(delivered "mlt_beta@$ORIGIN")
sm mlt_beta || fail "sendmail as mlt_beta with maillimitd stopped"
for _ in $(seq 100); do
    [ "$(delivered "mlt_beta@$ORIGIN")" -gt "$before" ] && break
    sleep 0.1
done
expect "mlt_beta delivered with maillimitd stopped" "$(delivered "mlt_beta@$ORIGIN")" $((before + 1))
echo "with maillimitd stopped, mail flows (milter_default_action = accept)"
echo "PASS"
