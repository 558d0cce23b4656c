#!/bin/bash
# SPDX-License-Identifier: MIT
# Install what is needed, build libmaillimit and run the embedding demo on its configuration
# (fresh Debian 12, as root):
#
#   bash scripts/run-demo.sh [CONFIG]
#
# CONFIG defaults to examples/embed/demo.conf. The build goes to build-demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(build-essential cmake pkg-config libuv1-dev libmsgpack-dev)
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

cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILLIMIT_BUILD_TESTS=OFF \
  -DMAILLIMIT_BUILD_BENCH=OFF -DMAILLIMIT_BUILD_EXAMPLES=ON >/dev/null
cmake --build build-demo -j2 --target maillimit-demo >/dev/null
echo
exec build-demo/examples/embed/maillimit-demo "${1:-examples/embed/demo.conf}"
