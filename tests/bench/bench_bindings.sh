#!/bin/bash
# SPDX-License-Identifier: MIT
# Per-call overhead of maillimit_decide() through the Python and PHP bindings versus C, on
# the same workload in one run (see bench_bindings.c). Not a ctest test.
#
#   tests/bench/bench_bindings.sh [BUILD_DIR] [C_CALLS] [BINDING_CALLS]
#
# BUILD_DIR (default build/) must hold libmaillimit/libmaillimit.so; the C part is compiled
# here against that shared library, as the bindings use it. PHP is skipped if php with FFI
# is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
c_calls=${2:-5000000}
b_calls=${3:-1000000}
lib="$build/libmaillimit/libmaillimit.so"
[ -e "$lib" ] || { echo "bench_bindings.sh: $lib not found (build first)" >&2; exit 1; }

bin="$build/bench_bindings_c"
${CC:-cc} -O2 -std=c11 -I "$root/include" "$root/tests/bench/bench_bindings.c" \
  -L "$build/libmaillimit" -lmaillimit -Wl,-rpath,"$build/libmaillimit" -o "$bin"

echo "decide() per call, same workload: C $c_calls calls, bindings $b_calls calls"
"$bin" "$c_calls"
MAILLIMIT_LIBRARY="$lib" PYTHONPATH="$root/bindings/python" PYTHONDONTWRITEBYTECODE=1 \
  python3 "$root/tests/bench/bench_bindings.py" "$b_calls"
php_ffi='exit(extension_loaded("FFI") ? 0 : 1);'
if command -v php >/dev/null && php -d ffi.enable=1 -r "$php_ffi"; then
  MAILLIMIT_LIBRARY="$lib" MAILLIMIT_HEADER="$root/include/maillimit.h" \
    php -d ffi.enable=1 -d opcache.enable_cli=1 "$root/tests/bench/bench_bindings.php" "$b_calls"
else
  echo "PHP     skipped: no php with FFI (apt-get install php-cli)"
fi
