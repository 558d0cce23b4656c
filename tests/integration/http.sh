#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test of maillimitd's pages and /metrics (http_listen) in a real browser:
# maillimitd gets a known history (decisions through the admin protocol at explicit times),
# headless Chromium takes screenshots (kept in SHOTS) and dumps the DOM of the General page,
# an entity page and a list, which must hold the hand-computed figures; promtool checks
# /metrics, whose counts must be exact; odd names go through the pages; the log has one
# refusal line per episode; the token is checked after a reload. http_check.py does the
# checking. A missing chromium, promtool or python3 fails the test.
#
#   http.sh MAILLIMITD MAILLIMITCTL SHOTS_DIR
set -u
MAILLIMITD=${1:?usage: http.sh MAILLIMITD MAILLIMITCTL SHOTS_DIR}
MAILLIMITCTL=${2:?usage: http.sh MAILLIMITD MAILLIMITCTL SHOTS_DIR}
SHOTS=${3:?usage: http.sh MAILLIMITD MAILLIMITCTL SHOTS_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v python3 >/dev/null || { echo "FAIL (cannot run): needs python3"; exit 1; }
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "FAIL (cannot run): needs chromium (Debian package chromium)"; exit 1; }
PROMTOOL=$(command -v promtool || true)
[ -n "$PROMTOOL" ] || { echo "FAIL (cannot run): needs promtool (Debian package prometheus)"; exit 1; }

T=$(mktemp -d /tmp/maillimitd-http.XXXXXX)
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PPORT=$(free_port)
HPORT=$(free_port)
ADMIN_CALLS=0
CTL() {
    "$MAILLIMITCTL" -s "$T/admin.sock" "$@" > "$T/ctl.out" 2>&1 || { cat "$T/ctl.out"; return 1; }
    ADMIN_CALLS=$((ADMIN_CALLS + 1))
}

write_conf() { # $1: extra lines
    cat > "$T/ml.conf" <<EOF
policy_listen inet:127.0.0.1:$PPORT
admin_listen unix:$T/admin.sock
http_listen inet:127.0.0.1:$HPORT
state_file none
log stderr
server mailbox=100 domain=500 subscription=1000
plan basic mailbox=50
subscription acme plan=basic
domain acme.example subscription=acme mailbox=20 domain=200
mailbox ceo@acme.example mailbox=30
mailbox news@acme.example exempt=yes
subscription beta
domain beta.example subscription=beta domain=5
$1
EOF
}
write_conf ""
"$MAILLIMITD" -f -c "$T/ml.conf" > "$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do
    "$MAILLIMITCTL" -s "$T/admin.sock" ping >/dev/null 2>&1 && { ADMIN_CALLS=1; break; }
    sleep 0.1
done
[ "$ADMIN_CALLS" = 1 ] || fail "maillimitd did not start"
grep -q "pages and metrics on inet:127.0.0.1:$HPORT (port $HPORT)" "$T/log" || fail "no HTTP listener"

# --- a known history at explicit times ----------------------------------------------------
# day D (two days ago, UTC): ceo@acme.example sends HOURLY[h] at minute 1 of hour h, is
# refused 7 at 10:02 and 4 at 11:02; a report at D+1 00:30 moves the day into history;
# then now: ceo sends 30 and is refused 1, beta.example (script mail) sends 5 and is refused
# 2, info@beta.example is refused 1 (its domain is full), news@acme.example sends 3 exempt.
NOW=$(date +%s)
DAY=$(( NOW / 86400 * 86400 - 2 * 86400 ))
HOURLY=(0 0 1 0 2 5 8 12 20 25 30 30 28 22 18 15 12 9 6 4 3 2 1 0)
decide() { # level name cost time want
    CTL --json call decide "$1" "$2" "$3" "$4" || fail "decide $*"
    grep -q "\"decision\": *\"$5\"" "$T/ctl.out" || { cat "$T/ctl.out"; fail "decide $* is not $5"; }
}
for h in $(seq 0 23); do
    [ "${HOURLY[$h]}" -gt 0 ] && decide mailbox ceo@acme.example "${HOURLY[$h]}" $((DAY + h * 3600 + 60)) allow
    [ "$h" = 10 ] && decide mailbox ceo@acme.example 7 $((DAY + h * 3600 + 120)) deny
    [ "$h" = 11 ] && decide mailbox ceo@acme.example 4 $((DAY + h * 3600 + 120)) deny
done
CTL call summary server nil 24 $((DAY + 86400 + 1800)) || fail "summary"
decide mailbox ceo@acme.example 30 "$NOW" allow
decide mailbox ceo@acme.example 1 "$NOW" deny
decide domain beta.example 5 "$NOW" allow
decide domain beta.example 2 "$NOW" deny
decide mailbox info@beta.example 1 "$NOW" deny
decide mailbox news@acme.example 3 "$NOW" allow

# --- Postfix policy requests: 3 allowed, 20 refused (one log line) -------------------------
python3 - "$PPORT" > "$T/py.out" 2>&1 <<'EOF' || { cat "$T/py.out"; fail "policy requests"; }
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.settimeout(5)
def ask(inst, login):
    s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\ninstance=%s\n"
               "client_address=198.51.100.7\nsasl_username=%s\nsender=%s\n\n"
               % (inst, login, login)).encode())
    buf = b""
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            raise SystemExit("closed")
        buf += d
    return buf.decode()
for i in range(3):
    assert ask("ok%d" % i, "ok@acme.example") == "action=DUNNO\n\n"
for i in range(20):
    r = ask("spam%d" % i, "spam@beta.example")
    assert r.startswith("action=450 4.7.0 Message limit reached: domain beta.example"), r
EOF
n=$(grep -c "deny: mailbox spam@beta.example" "$T/log")
[ "$n" = 1 ] || fail "log_denials episode: $n refusal lines for spam@beta.example, not 1"
echo "20 refusals, one log line: ok"

# --- odd names ------------------------------------------------------------------------------
CTL add domain odd.example beta || fail "add domain"
ODD=(
    '"quoted"@odd.example'
    "o'neil@odd.example"
    '<script>alert(1)</script>@odd.example'
    'a&amp;b<>c@odd.example'
    'x"onmouseover="alert(1)@odd.example'
    'per%2fcent%00x@odd.example'
    'sl/ash?q=1#frag@odd.example'
    'plus+tag@odd.example'
    "j$(printf '\xc3\xbc')rgen@odd.example"
    "$(printf '\xe2\x82\xac\xf0\x9f\x93\xa7')@odd.example"
)
: > "$T/odd.txt"
for n in "${ODD[@]}"; do
    CTL add mailbox "$n" || fail "add mailbox $n"
    printf '%s\n' "$n" >> "$T/odd.txt"
done

# --- the pages in the browser, the metrics ------------------------------------------------
mkdir -p "$SHOTS"
python3 "$HERE/http_check.py" pages --port "$HPORT" --chromium "$CHROMIUM" --shots "$SHOTS" \
    --day "$DAY" --now "$NOW" --odd "$T/odd.txt" || fail "pages"
python3 "$HERE/http_check.py" metrics --port "$HPORT" --promtool "$PROMTOOL" \
    --out "$SHOTS/metrics.txt" --admin-calls "$ADMIN_CALLS" --odd-count "${#ODD[@]}" \
    || fail "metrics"

# --- a token, set by a reload ---------------------------------------------------------------
TOKEN=ab12cd34ef56ab78cd90ef12
write_conf "http_auth_token $TOKEN"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q "configuration reloaded" "$T/log" && break; sleep 0.1; done
grep -q "configuration reloaded" "$T/log" || fail "no reload"
python3 "$HERE/http_check.py" auth --port "$HPORT" --token "$TOKEN" || fail "token"

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] || fail "maillimitd exited $rc"
grep -q "stopped" "$T/log" || fail "not stopped cleanly"
echo "screenshots: $SHOTS"
ls "$SHOTS"
echo "PASS"
