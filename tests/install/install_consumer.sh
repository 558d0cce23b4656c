#!/bin/bash
# SPDX-License-Identifier: MIT
# Install the build into a temporary prefix, then build and run a small program against it
# three ways: CMake find_package (shared and static) and pkg-config (shared); with the
# server layer, also a program linking maillimit::server.
#
#   install_consumer.sh BUILD_DIR CONSUMER_SRC CMAKE CC VERSION WITH_SERVER(0|1)
set -euo pipefail
build=$1 src=$2 cmake=$3 cc=$4 version=$5 server=${6:-0}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maillimit-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { printf '\n== %s\n' "$*"; }

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix"

# Every file must land under the prefix given at install time (an absolute DESTINATION
# computed at configure time would write into the real system instead).
outside=$(grep -v "^$prefix/" "$build/install_manifest.txt" || true)
if [ -n "$outside" ]; then
  echo "FAIL: installed outside --prefix $prefix (use a DESTINATION relative to the prefix):"
  echo "$outside"
  exit 1
fi

# Where GNUInstallDirs put things (lib, lib64 or lib/<multiarch>).
pcfile=$(find "$prefix" -name maillimit.pc -print -quit)
cfgfile=$(find "$prefix" -name maillimitConfig.cmake -print -quit)
for f in "$pcfile" "$cfgfile" "$prefix/include/maillimit.h"; do
  [ -n "$f" ] && [ -f "$f" ] || { echo "FAIL: missing installed file (${f:-maillimit.pc or maillimitConfig.cmake})"; exit 1; }
done
libdir=$(dirname "$(dirname "$pcfile")")
need=("$libdir/libmaillimit.so" "$libdir/libmaillimit.a")
if [ "$server" = 1 ]; then
  need+=("$libdir/libmaillimit_server.so" "$prefix/include/maillimit/server.h")
fi
for f in "${need[@]}"; do
  [ -e "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
internal=$(find "$prefix" -name '*internal*.h')
[ -z "$internal" ] || { echo "FAIL: internal header(s) installed: $internal"; exit 1; }
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

for f in "$prefix/share/man/man3/libmaillimit.3" "$prefix/share/doc/maillimit/LICENSE"; do
  [ -f "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
if [ "$server" = 1 ]; then
  step "maillimitd: unit, configuration and man pages of the install-time prefix"
  for f in "$prefix/share/man/man8/maillimitd.8" "$prefix/share/man/man8/maillimitctl.8" \
           "$prefix/share/man/man5/maillimit.conf.5" "$prefix/lib/sysusers.d/maillimit.conf" \
           "$prefix/etc/maillimit/maillimit.conf" "$prefix/share/maillimit/maillimit.conf"; do
    [ -f "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
  done
  unit="$prefix/lib/systemd/system/maillimitd.service"
  want="ExecStart=$prefix/sbin/maillimitd -f -c $prefix/etc/maillimit/maillimit.conf"
  grep -qxF "$want" "$unit" || { echo "FAIL: $unit has no line $want:"; cat "$unit"; exit 1; }
  if grep -n '@[A-Z_]*@\|/usr/local' "$unit" "$prefix/share/man/man8/maillimitd.8"; then
    echo "FAIL: placeholders or the configure-time prefix in the installed files (above)"
    exit 1
  fi
  LD_LIBRARY_PATH="$libdir" "$prefix/sbin/maillimitd" --check-config \
    -c "$prefix/etc/maillimit/maillimit.conf"
  # systemd's own check of the unit (works without systemd running; any output is a problem)
  if command -v systemd-analyze >/dev/null; then
    out=$(systemd-analyze verify --man=no "$unit" 2>&1)
    [ -z "$out" ] || { echo "$out"; echo "FAIL: systemd-analyze verify $unit"; exit 1; }
    echo "systemd-analyze verify: $unit is clean"
  fi
fi

step "CMake consumer: find_package(maillimit $version EXACT)"
"$cmake" -S "$src" -B "$tmp/cmake-build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" -DMAILLIMIT_EXPECT_VERSION="$version" \
  -DMAILLIMIT_EXPECT_SERVER="$server" -DCMAKE_BUILD_TYPE=Release
"$cmake" --build "$tmp/cmake-build"
"$tmp/cmake-build/consumer_shared"
"$tmp/cmake-build/consumer_static"
if [ "$server" = 1 ]; then
  "$tmp/cmake-build/consumer_server"
fi
if ldd "$tmp/cmake-build/consumer_static" | grep -q libmaillimit; then
  echo "FAIL: consumer_static links the shared library"; exit 1
fi

step "pkg-config consumer: pkg-config --cflags --libs maillimit"
export PKG_CONFIG_PATH="$(dirname "$pcfile")"
pcver=$(pkg-config --modversion maillimit)
[ "$pcver" = "$version" ] || { echo "FAIL: pkg-config version $pcver, expected $version"; exit 1; }
pcprefix=$(pkg-config --variable=prefix maillimit)
[ "$pcprefix" = "$prefix" ] || { echo "FAIL: maillimit.pc prefix $pcprefix, expected $prefix"; exit 1; }
flags=$(pkg-config --cflags --libs maillimit)
echo "flags: $flags"
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror -o "$tmp/consumer_pc" "$src/main.c" $flags
LD_LIBRARY_PATH="$libdir" "$tmp/consumer_pc"

echo
echo "install_consumer: installed package works with find_package and pkg-config"
