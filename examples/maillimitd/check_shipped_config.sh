#!/bin/bash
# SPDX-License-Identifier: MIT
# The shipped maillimit.conf (installed as /etc/maillimit/maillimit.conf) is valid, has the
# built-in configuration's directives, and puts the admin socket and the state file where the
# systemd unit's RuntimeDirectory and StateDirectory are.
#
#   check_shipped_config.sh MAILLIMITD CONF
set -euo pipefail
daemon=$1 conf=$2

"$daemon" --check-config -c "$conf"

# directives only: no comments, blank lines or repeated blanks
directives() {
  sed -E -e 's/(^|[[:space:]])#.*$//' -e 's/[[:space:]]+/ /g' -e 's/^ //; s/ $//' | grep -v '^$'
}
ours=$(directives <"$conf")
builtin=$("$daemon" --print-default-config | directives)

fail=0
for want in "admin_listen unix:/run/maillimit/maillimitd.sock mode=0600" \
            "state_file /var/lib/maillimit/state.snap"; do
  if ! grep -qxF "$want" <<<"$ours"; then
    echo "FAIL: $conf: no line \"$want\""
    fail=1
  fi
done
if ! diff -u <(grep -Ev '^(admin_listen|state_file) ' <<<"$builtin") \
             <(grep -Ev '^(admin_listen|state_file) ' <<<"$ours"); then
  echo "FAIL: $conf differs from maillimitd --print-default-config (above: - built-in, + $conf)"
  fail=1
fi
[ "$fail" -eq 0 ] && echo "ok: $conf is the built-in configuration with the unit's directories"
exit "$fail"
