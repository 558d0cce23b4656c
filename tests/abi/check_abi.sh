#!/bin/bash
# SPDX-License-Identifier: MIT
# The ABI of a built library against its committed baseline (libabigail):
#
#   check_abi.sh LIBRARY BASELINE.abi HEADERS_DIR
#
# Fails on an incompatible change (a symbol removed, a struct or function type changed);
# additions pass and are listed. An intended break (a new SONAME) comes with a new baseline:
# tests/abi/update_baseline.sh BUILD_DIR.
set -u
lib=${1:?usage: check_abi.sh LIBRARY BASELINE HEADERS_DIR}
base=${2:?usage}
headers=${3:?usage}
command -v abidiff >/dev/null || { echo "FAIL: abidiff not found (package abigail-tools)"; exit 1; }
[ -f "$base" ] || { echo "FAIL: no baseline $base"; exit 1; }
abidiff --headers-dir2 "$headers" --drop-private-types "$base" "$lib" > "${TMPDIR:-/tmp}/abidiff.$$" 2>&1
rc=$?
cat "${TMPDIR:-/tmp}/abidiff.$$"
rm -f "${TMPDIR:-/tmp}/abidiff.$$"
# abidiff's status is a bit set: 1 error, 2 usage, 4 a change, 8 an incompatible change
if [ $((rc & 11)) -ne 0 ]; then
    echo "FAIL: $(basename "$lib"): abidiff status $rc (incompatible with $(basename "$base"), or abidiff failed)"
    exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
    echo "ok: $(basename "$lib"): compatible additions only"
else
    echo "ok: $(basename "$lib"): the same ABI as $(basename "$base")"
fi
