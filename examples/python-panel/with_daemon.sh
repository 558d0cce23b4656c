#!/bin/bash
# SPDX-License-Identifier: MIT
# Run a panel against a maillimitd of its own and compare the output with the expected text
# (a ctest smoke test of examples/python-panel/manage.py and examples/php-panel/manage.php).
#
#   with_daemon.sh MAILLIMITD EXPECTED COMMAND...     (COMMAND gets --socket PATH appended)
#
# The daemon runs in a private temporary directory (unix admin socket, no policy listener,
# no state file) and is always stopped.
set -u
MAILLIMITD=${1:?usage: with_daemon.sh MAILLIMITD EXPECTED COMMAND...}
EXPECTED=${2:?usage: with_daemon.sh MAILLIMITD EXPECTED COMMAND...}
shift 2
T=$(mktemp -d /tmp/maillimit-panel.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
printf 'policy_listen none\nadmin_listen unix:%s/admin.sock\nstate_file none\nlog stderr\n' \
    "$T" > "$T/maillimit.conf"
"$MAILLIMITD" -f -c "$T/maillimit.conf" > "$T/log" 2>&1 &
PID=$!
# ready once it logged "started" (every listener is up then)
for _ in $(seq 1000); do
    grep -q "started" "$T/log" && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.01
done
grep -q "started" "$T/log" || { echo "FAIL: maillimitd did not start"; cat "$T/log"; exit 1; }
rc=0
"$@" --socket "$T/admin.sock" > "$T/out" 2> "$T/err" || rc=$?
if [ "$rc" != 0 ]; then
    echo "FAIL: the panel exited with $rc"
    cat "$T/err" "$T/out"
    exit 1
fi
diff -u "$EXPECTED" "$T/out" || { echo "FAIL: output differs from $EXPECTED"; exit 1; }
echo "output matches $EXPECTED"
