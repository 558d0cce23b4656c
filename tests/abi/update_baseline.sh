#!/bin/bash
# SPDX-License-Identifier: MIT
# Write the ABI baselines from a build (RelWithDebInfo: abidw needs debug information):
#
#   tests/abi/update_baseline.sh BUILD_DIR
#
# Only when the ABI is meant to change incompatibly (with a new SOVERSION) or to record
# additions; check_abi.sh compares every build against these files.
set -eu
build=${1:?usage: update_baseline.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
abidw --headers-dir "$top/include" --drop-private-types --no-corpus-path \
    --out-file "$top/tests/abi/libmaillimit.abi" "$build/libmaillimit/libmaillimit.so"
abidw --headers-dir "$top/include" --drop-private-types --no-corpus-path \
    --out-file "$top/tests/abi/libmaillimit_server.abi" \
    "$build/libmaillimit/server/libmaillimit_server.so"
echo "baselines written: tests/abi/libmaillimit.abi tests/abi/libmaillimit_server.abi"
