#!/bin/bash
# Install the build into a temporary prefix, then build and run a small program against it
# three ways: CMake find_package (shared and static) and pkg-config (shared).
#
#   install_consumer.sh BUILD_DIR CONSUMER_SRC CMAKE CC VERSION
set -euo pipefail
build=$1 src=$2 cmake=$3 cc=$4 version=$5

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maillimit-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { printf '\n== %s\n' "$*"; }

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix"

# Where GNUInstallDirs put things (lib, lib64 or lib/<multiarch>).
pcfile=$(find "$prefix" -name maillimit.pc -print -quit)
cfgfile=$(find "$prefix" -name maillimitConfig.cmake -print -quit)
for f in "$pcfile" "$cfgfile" "$prefix/include/maillimit.h"; do
  [ -n "$f" ] && [ -f "$f" ] || { echo "FAIL: missing installed file (${f:-maillimit.pc or maillimitConfig.cmake})"; exit 1; }
done
libdir=$(dirname "$(dirname "$pcfile")")
for f in libmaillimit.so libmaillimit.a; do
  [ -e "$libdir/$f" ] || { echo "FAIL: $libdir/$f not installed"; exit 1; }
done
if find "$prefix" -name 'internal.h' | grep -q .; then
  echo "FAIL: an internal header was installed"; exit 1
fi
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

step "CMake consumer: find_package(maillimit $version EXACT)"
"$cmake" -S "$src" -B "$tmp/cmake-build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" -DMAILLIMIT_EXPECT_VERSION="$version" -DCMAKE_BUILD_TYPE=Release
"$cmake" --build "$tmp/cmake-build"
"$tmp/cmake-build/consumer_shared"
"$tmp/cmake-build/consumer_static"
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
