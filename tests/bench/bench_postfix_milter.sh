#!/bin/bash
# SPDX-License-Identifier: MIT
# Throughput of a real Postfix with maillimitd as its milter, against the same Postfix without
# milters (and, if bench_milter is given, with bench_milter's do-nothing milter, plain and with
# TCP_QUICKACK), in one run.
#
#   bench_postfix_milter.sh [--quick] [--rounds N] [-m MESSAGES] [-s SESSIONS] [-d]
#                           [--local N] MAILLIMITD MAILLIMITCTL [BENCH_MILTER]
#
# A private Postfix (Debian's package; set up as tests/integration/milter.sh does: its own
# config, queue and data directories under a temporary directory, delivery to discard:,
# nothing of the host's Postfix touched, never port 25) gets one smtpd per target, each on a
# free loopback port: without milters, `-o smtpd_milters=inet:...` to maillimitd
# (milter_listen), to the do-nothing milter (`BENCH_MILTER --nothing-milter PORT`), and to the
# do-nothing milter with `--quickack` (it acknowledges Postfix's data at once: see bench_milter.c
# and tests/bench/README.md, "Milter"). The targets are driven alternately by Postfix's
# smtp-source (-s SESSIONS -m MESSAGES, one message
# per SMTP session, so one milter connection per message, as smtpd opens one per session),
# --rounds times (default 3), and each figure is the median: SMTP messages/s from the start
# of smtp-source until its last message was accepted (the queue is let drain between runs).
# The ratio maillimitd/no milter is the figure (target >= 0.95). -d: smtp-source sends all the
# messages of a session over one connection (MESSAGES/SESSIONS each): one milter connection
# per SMTP session, several messages on it.
#
# Local submissions (optional, --local N; default 400, 0 to skip): N messages through
# `sendmail -C DIR` as root (4 in parallel) with non_smtpd_milters pointing at maillimitd's
# local_milter_listen, against none (postfix reload in between); messages/s from the first
# submission until the last is delivered (sendmail returns before pickup and cleanup, where
# the milter runs).
#
# maillimitd's decisions are checked against the messages sent (`maillimitctl stats`),
# milter_default_action is tempfail (a milter failure shows up as a failed run, not as fast
# unfiltered mail), and Postfix's log is searched for milter warnings. Needs root and postfix.
# --quick: 1 round of 500 messages, 100 local submissions (well under a minute). Exit status
# 0 unless something failed (targets are reported, not enforced).
set -u
. "$(dirname "$0")/../integration/postfix_private.sh"
QUICK=
ROUNDS=3
MSGS=2000
SESSIONS=20
LOCAL=400
REUSE=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; ROUNDS=1; MSGS=500; LOCAL=100; shift ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -m) MSGS=$2; shift 2 ;;
    -s) SESSIONS=$2; shift 2 ;;
    -d) REUSE=-d; shift ;;
    --local) LOCAL=$2; shift 2 ;;
    -*) echo "usage: $0 [--quick] [--rounds N] [-m MESSAGES] [-s SESSIONS] [-d] [--local N] MAILLIMITD MAILLIMITCTL [BENCH_MILTER]" >&2; exit 2 ;;
    *) break ;;
    esac
done
MAILLIMITD=${1:?usage: bench_postfix_milter.sh [options] MAILLIMITD MAILLIMITCTL [BENCH_MILTER]}
MAILLIMITCTL=${2:?usage: bench_postfix_milter.sh [options] MAILLIMITD MAILLIMITCTL [BENCH_MILTER]}
BENCH_MILTER=${3:-}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

T=$(mktemp -d /tmp/maillimit-bench-postfix.XXXXXX)
chmod 755 "$T"
MLPID=
DNPID=
DNQPID=
fail() { # on stderr: also from inside $(...)
    {
        echo "FAIL: $*"
        echo "---- maillimitd log"; tail -20 "$T/maillimitd.log" 2>/dev/null
        echo "---- postfix log (without the lines of each message)"
        grep -v " postfix/\(smtpd\|cleanup\|qmgr\|discard\|pickup\)\[[0-9]*\]: [0-9A-F]*: " \
            "$T/maillog" 2>/dev/null | tail -30
    } >&2
    exit 1
}
cleanup() {
    [ -n "$MLPID" ] && kill -TERM "$MLPID" 2>/dev/null && wait "$MLPID" 2>/dev/null
    [ -n "$DNPID" ] && kill -TERM "$DNPID" 2>/dev/null && wait "$DNPID" 2>/dev/null
    [ -n "$DNQPID" ] && kill -TERM "$DNQPID" 2>/dev/null && wait "$DNQPID" 2>/dev/null
    postfix_private_stop "$T"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || fail "needs root (Postfix's master)"
command -v postfix >/dev/null || fail "postfix is not installed"
command -v smtp-source >/dev/null || fail "smtp-source (package postfix) not found"
id postfix >/dev/null 2>&1 || fail "no postfix user"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
declare -A PORT  # smtpd per target
for t in none maillimitd do-nothing do-nothing+quickack; do
    PORT[$t]=$(free_port)
done
MILTER_PORT=$(free_port)
LOCAL_PORT=$(free_port)
DN_PORT=$(free_port)
DNQ_PORT=$(free_port)
ORIGIN=mx.bench.example
SENDER=script@bench.example

# ---- the milters -----------------------------------------------------------------------------
cat > "$T/maillimit.conf" <<EOF
policy_listen none
admin_listen unix:$T/maillimitd.sock mode=0600
milter_listen inet:127.0.0.1:$MILTER_PORT
local_milter_listen inet:127.0.0.1:$LOCAL_PORT
local_login_sender_map_file $T/sender_logins
local_origin $ORIGIN
state_file none
local_network 127.0.0.0/8
server mailbox=1000000 domain=10000000 subscription=100000000
subscription bench
domain bench.example subscription=bench
EOF
"$MAILLIMITD" -f -c "$T/maillimit.conf" >> "$T/maillimitd.log" 2>&1 &
MLPID=$!
ctl() { "$MAILLIMITCTL" -s "$T/maillimitd.sock" "$@"; }
for _ in $(seq 50); do
    ctl ping >/dev/null 2>&1 && break
    sleep 0.1
done
ctl ping >/dev/null 2>&1 || fail "maillimitd did not start"
decisions() { ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["milter_messages"])'; }
wait_port() {
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),1).close()" \
            2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listens on 127.0.0.1:$1"
}
TARGETS="none maillimitd"
declare -A MILTER=([maillimitd]=$MILTER_PORT)
if [ -n "$BENCH_MILTER" ]; then
    "$BENCH_MILTER" --nothing-milter "$DN_PORT" > "$T/nothing.log" 2>&1 &
    DNPID=$!
    "$BENCH_MILTER" --nothing-milter "$DNQ_PORT" --quickack > "$T/nothing-quickack.log" 2>&1 &
    DNQPID=$!
    wait_port "$DN_PORT"
    wait_port "$DNQ_PORT"
    TARGETS="none maillimitd do-nothing do-nothing+quickack"
    MILTER[do-nothing]=$DN_PORT
    MILTER[do-nothing+quickack]=$DNQ_PORT
fi

# ---- a private Postfix ------------------------------------------------------------------------
postfix_private_init "$T" "$ORIGIN" bench.example
cat >> "$T/etc/main.cf" <<EOF
smtpd_milters =
non_smtpd_milters =
milter_default_action = tempfail
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 10s
EOF
for t in $TARGETS; do
    p=${PORT[$t]}
    opt=
    [ "$t" != none ] && opt="-o smtpd_milters=inet:127.0.0.1:${MILTER[$t]}"
    postfix_private_smtpd "$T" "$p" $opt || fail "postconf -M"
done
postfix_private_start "$T"
for t in $TARGETS; do
    wait_port "${PORT[$t]}"
done
now() { date +%s.%N; }
# Wait until the queue is empty (everything delivered to discard:).
drain() {
    for _ in $(seq 600); do
        if [ -z "$(find "$T/spool/maildrop" "$T/spool/incoming" "$T/spool/active" \
                      "$T/spool/deferred" -type f 2>/dev/null | head -1)" ]; then
            return 0
        fi
        sleep 0.05
    done
    fail "the queue did not drain"
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# ---- SMTP -----------------------------------------------------------------------------------------
smtp_run() { # TARGET COUNT: messages/s
    local port=${PORT[$1]} t0 t1
    t0=$(now)
    smtp-source $REUSE -s "$SESSIONS" -m "$2" -f "$SENDER" -t rcpt@remote.example \
        -M client.bench.example "127.0.0.1:$port" > "$T/smtp-source.out" 2>&1 ||
        { cat "$T/smtp-source.out"; fail "smtp-source to $1 failed"; }
    t1=$(now)
    drain
    python3 -c "print('%.1f' % ($2 / ($t1 - $t0)))"
}
expected=0
for t in $TARGETS; do # warm-up: processes started, caches filled
    smtp_run "$t" 200 >/dev/null
done
expected=$((expected + 200))
if [ -n "$REUSE" ]; then
    per_session="$((MSGS / SESSIONS)) messages per session"
else
    per_session="one message per session"
fi
echo "Postfix $(postconf -h mail_version) SMTP: smtp-source $REUSE${REUSE:+ }-s $SESSIONS -m $MSGS" \
     "($per_session), $ROUNDS alternating round(s); messages/s"
for r in $(seq "$ROUNDS"); do
    line="round $r:"
    for t in $TARGETS; do
        v=$(smtp_run "$t" "$MSGS") || exit 1
        echo "$v" >> "$T/smtp.$t"
        line="$line  $t $v"
    done
    expected=$((expected + MSGS))
    echo "$line"
done
got=$(decisions)
[ "$got" = "$expected" ] || fail "maillimitd decided $got messages, $expected went through it"
declare -A med
for t in $TARGETS; do
    med[$t]=$(median < "$T/smtp.$t")
done
printf '%-22s %10s %8s\n' "SMTP, median" "msgs/s" "ratio"
for t in $TARGETS; do
    printf '%-22s %10s %7s%%\n' "$t" "${med[$t]}" \
        "$(python3 -c "print('%.1f' % (100 * ${med[$t]} / ${med[none]}))")"
done
python3 -c "import sys; r=${med[maillimitd]}/${med[none]}; print('maillimitd: %.1f%% of Postfix without milters (target >= 95%%): %s' % (100*r, 'met' if r >= 0.95 else 'NOT met'))"
echo "maillimitd decided $got messages (all that went through it)"

# ---- local submissions --------------------------------------------------------------------------
if [ "$LOCAL" -gt 0 ]; then
    printf 'Subject: local submission\n\nhello\n' > "$T/msg"
    local_run() { # COUNT: messages/s, submission through delivery
        local n=$1 per=$(( $1 / 4 ))
        local t0 t1
        local pids=()
        t0=$(now)
        for _ in 1 2 3 4; do
            (
                for _ in $(seq "$per"); do
                    /usr/sbin/sendmail -C "$T/etc" -f "$SENDER" rcpt@remote.example < "$T/msg" ||
                        exit 1
                done
            ) &
            pids+=($!)
        done
        for p in "${pids[@]}"; do
            wait "$p" || fail "sendmail failed"
        done
        drain
        t1=$(now)
        python3 -c "print('%.1f' % ($((per * 4)) / ($t1 - $t0)))"
    }
    milters() { # on|off: non_smtpd_milters
        local v=
        [ "$1" = on ] && v=inet:127.0.0.1:$LOCAL_PORT
        postconf -c "$T/etc" -e "non_smtpd_milters = $v" || fail "postconf"
        postfix -c "$T/etc" reload >/dev/null 2>&1 || fail "postfix reload"
        sleep 1
    }
    # can root use the private configuration directory?
    if ! /usr/sbin/sendmail -C "$T/etc" -f "$SENDER" rcpt@remote.example < "$T/msg" \
            2>"$T/sendmail.err"; then
        echo "local submissions skipped: sendmail -C failed: $(head -2 "$T/sendmail.err")"
    else
        drain
        milters off
        local_run 40 >/dev/null || exit 1 # warm-up: pickup and cleanup after the reload
        before=$(decisions)
        per=$(( LOCAL / 4 ))
        echo "local submissions: $((per * 4)) x sendmail -C (4 in parallel), $ROUNDS alternating" \
             "round(s); messages/s from the first submission to the last delivery"
        for r in $(seq "$ROUNDS"); do
            milters off
            a=$(local_run "$LOCAL") || exit 1
            milters on
            b=$(local_run "$LOCAL") || exit 1
            echo "$a" >> "$T/local.none"
            echo "$b" >> "$T/local.maillimitd"
            echo "round $r:  none $a  maillimitd $b"
        done
        got=$(( $(decisions) - before ))
        [ "$got" = $((ROUNDS * per * 4)) ] ||
            fail "maillimitd decided $got local submissions, $((ROUNDS * per * 4)) went through it"
        a=$(median < "$T/local.none")
        b=$(median < "$T/local.maillimitd")
        python3 -c "print('local submissions, median: no milter %s/s, maillimitd %s/s: %.1f%%' % ('$a', '$b', 100 * $b / $a))"
    fi
fi

# ---- what the logs say --------------------------------------------------------------------------
if grep -i "warning: .*milter\|fatal\|panic" "$T/maillog" > "$T/warnings"; then
    head -5 "$T/warnings"
    fail "Postfix logged milter warnings or errors"
fi
if grep -i "warning\|error" "$T/maillimitd.log" | grep -v "limit reached\|back to normal" | head -5 | grep .; then
    fail "maillimitd logged warnings"
fi
echo "no milter warnings in Postfix's log; maillimitd logged no warnings"
