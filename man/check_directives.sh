#!/bin/bash
# SPDX-License-Identifier: MIT
# maillimit.conf(5) documents every directive the parsers know: the core's (dirdefs in
# libmaillimit/config.c) and the daemon's (dnames in libmaillimit/server/conf.c). A directive
# is documented when it heads a tagged paragraph: the line after a .TP or .TQ starts with
# .B, .BI or .BR and the directive's name.
#
#   check_directives.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 1
page=man/maillimit.conf.5.in
core=$(sed -n '/^} dirdefs\[D_COUNT\] = {/,/^};/p' libmaillimit/config.c |
       grep -o '{"[a-z_]*"' | tr -d '{"')
daemon=$(sed -n '/^static const char \*const dnames\[K_COUNT\] = {/,/^};/p' \
           libmaillimit/server/conf.c | grep -o '"[a-z_]*"' | tr -d '"')
[ -n "$core" ] && [ -n "$daemon" ] || { echo "FAIL: cannot read the directive tables"; exit 1; }
tags=$(awk 'prev ~ /^\.(TP|TQ)$/ && $1 ~ /^\.(B|BI|BR)$/ { w = $2; gsub(/"/, "", w); print w }
            { prev = $0 }' "$page")
fail=0
n=0
for d in $core $daemon; do
  n=$((n + 1))
  if ! grep -qxF "$d" <<<"$tags"; then
    echo "FAIL: $page does not document the directive $d"
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "ok: $page documents all $n directives"
exit "$fail"
