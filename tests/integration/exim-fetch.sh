#!/bin/bash
# SPDX-License-Identifier: MIT
# Puts Debian's Exim binary into a directory of the build tree without installing Exim
# (Exim and Postfix cannot both be installed: their packages conflict).
#
#   exim-fetch.sh DIR      prints DIR/root, where usr/sbin/exim4 is the binary
#
# Downloads exim4-daemon-light (the binary) and exim4-config (Debian's configuration, which
# the test checks the README's lines against) with apt-get download, the versions apt would
# install, into DIR/debs, and unpacks them into DIR/root with dpkg-deb -x: nothing is
# installed and no maintainer script runs. The result is kept: later runs reuse it. If apt's
# package lists are too old to download them (a security update replaced the version they
# name), "apt-get update" is run once and the download tried again.
#
# The binary needs the libraries of its package's dependencies; beyond those of a Debian 12
# build machine with Postfix, that is libidn12 (apt-get install libidn12), which the caller
# checks. Exits 1 with the reason if the binary cannot be had.
set -u
DIR=${1:?usage: exim-fetch.sh DIR}
PKGS=(exim4-daemon-light exim4-config)
ROOT=$DIR/root
BIN=$ROOT/usr/sbin/exim4
CONF=$ROOT/etc/exim4/conf.d

fail() { echo "exim-fetch: $*" >&2; exit 1; }

if [ -x "$BIN" ] && [ -d "$CONF" ] && [ -s "$DIR/version" ]; then
    echo "$ROOT"
    exit 0
fi
command -v apt-get >/dev/null || fail "apt-get not found (Debian's package tools are needed)"
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"
mkdir -p "$DIR/debs" || fail "cannot create $DIR/debs"
rm -f "$DIR"/debs/*.deb
download() { (cd "$DIR/debs" && apt-get download -q "${PKGS[@]}" >"$DIR/download.log" 2>&1); }
if ! download; then
    apt-get update -q >"$DIR/update.log" 2>&1 ||
        fail "apt-get update failed: $(tail -3 "$DIR/update.log")"
    download || fail "apt-get download ${PKGS[*]} failed: $(tail -3 "$DIR/download.log")"
fi
rm -rf "$ROOT" "$DIR/version" "$DIR/version.new"
for p in "${PKGS[@]}"; do
    deb=$(ls "$DIR"/debs/"$p"_*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || fail "apt-get download left no $p package in $DIR/debs"
    dpkg-deb -x "$deb" "$ROOT" || fail "dpkg-deb -x $deb failed"
    echo "$p $(dpkg-deb -f "$deb" Version)" >> "$DIR/version.new"
done
[ -x "$BIN" ] || fail "exim4-daemon-light has no usr/sbin/exim4"
[ -d "$CONF" ] || fail "exim4-config has no etc/exim4/conf.d"
mv "$DIR/version.new" "$DIR/version"
echo "$ROOT"
