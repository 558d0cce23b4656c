#!/bin/bash
# SPDX-License-Identifier: MIT
# Run maillimit-demo on demo.conf and compare its output (after the version line) with the
# hand-computed expected.txt.   check_demo.sh DEMO CONF EXPECTED
set -euo pipefail
demo=$1 conf=$2 expected=$3
out=$("$demo" "$conf")
printf '%s\n' "$out"
if ! diff -u "$expected" <(printf '%s\n' "$out" | sed 1d); then
  echo "embed_demo: output differs from $expected (diff above: - expected, + actual)"
  exit 1
fi
echo "embed_demo: output matches $expected"
