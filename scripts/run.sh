#!/bin/bash
# SPDX-License-Identifier: MIT
# Install what is needed, build, and run maillimitd in the foreground on its built-in
# configuration (fresh Debian 12, as root):
#
#   bash scripts/run.sh [maillimitd options...]
#
# It listens for Postfix policy requests on 127.0.0.1:10031 and for maillimitctl on its
# admin socket (`build/examples/maillimitd/maillimitd --print-default-config` shows where).
# Stop it with Ctrl-C: it saves its state and exits. The build goes to build/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(build-essential cmake pkg-config libuv1-dev libmsgpack-dev libmicrohttpd-dev libhiredis-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${packages[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILLIMIT_BUILD_TESTS=OFF \
  -DMAILLIMIT_BUILD_BENCH=OFF -DMAILLIMIT_BUILD_EXAMPLES=ON >/dev/null
cmake --build build -j2 --target maillimitd maillimitctl >/dev/null
echo "maillimitd: built-in configuration:"
build/examples/maillimitd/maillimitd --print-default-config | sed 's/^/  /'
exec build/examples/maillimitd/maillimitd -f "$@"
