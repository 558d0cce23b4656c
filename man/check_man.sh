#!/bin/bash
# SPDX-License-Identifier: MIT
# Each man page formats without a single groff warning (-ww: all of them, among them lines
# that cannot be broken or adjusted), as lintian's manual page check wants.
#
#   check_man.sh GROFF PAGE...
set -uo pipefail
groff=$1
shift
fail=0
for page in "$@"; do
  out=$(LC_ALL=C.UTF-8 "$groff" -ww -z -t -man -Tutf8 "$page" 2>&1)
  rc=$?
  if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
    echo "FAIL: $page (groff exit $rc):"
    echo "$out"
    fail=1
  else
    echo "ok: $page"
  fi
done
exit "$fail"
