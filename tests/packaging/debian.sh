#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages, end to end, as root on this (Debian 12) machine:
#
#   1. build them with `dpkg-buildpackage -us -uc -b` in a copy of the source tree, in a
#      temporary directory (the source tree gets no build products);
#   2. lintian: no error and no warning (informational tags are printed);
#   3. `dpkg -i` them, then check what they installed: the system user, the conffile, the
#      unit (systemd-analyze verify), the man pages, `maillimitd --check-config`, the
#      pkg-config file with a program built against it, the Python import and the PHP
#      classes;
#   4. run the installed maillimitd once in the foreground as the user maillimit, on a
#      private configuration (loopback port, admin socket and state file in a temporary
#      directory): a Postfix policy request, `maillimitctl version` and `status`, SIGTERM,
#      the state file saved;
#   5. `dpkg --purge` them and check that nothing is left; the user maillimit is removed
#      again if this test created it.
#
#   debian.sh SOURCE_DIR VERSION
#
# It refuses to run (exit 1) when any of the packages is installed already, so it never
# replaces or purges a real installation. Where systemd is running, the unit is masked
# (--runtime) while the packages are installed, so the package does not start a daemon on
# the host's port 10031. Exit 77 (skipped) when not run as root.
set -uo pipefail

src=$(cd "$1" && pwd)
version=$2
packages=(libmaillimit1 libmaillimit-server1 libmaillimit-dev maillimitd python3-maillimit
          php-maillimit)
t0=$SECONDS

step() { printf '\n== %s (%d s)\n' "$*" $((SECONDS - t0)); }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  fail "installing packages with dpkg -i needs root (a test that cannot run is not passed)"
fi

# The build and the checks use Debian's tools, not a Python or PHP found earlier in PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8
unset PYTHONPATH PYTHONHOME MAILLIMIT_LIBRARY MAILLIMIT_HEADER MAILLIMIT_FFI_HEADER \
      MAILLIMITCTL_SOCKET PKG_CONFIG_PATH

need=()
for tool in dpkg-buildpackage dpkg-checkbuilddeps lintian systemd-analyze setpriv userdel \
            python3 php cc pkg-config; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
[ ${#need[@]} -eq 0 ] || fail "missing tools: ${need[*]} (apt-get install dpkg-dev debhelper" \
  "lintian systemd util-linux passwd python3 php-cli build-essential pkgconf)"

for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
    fail "$p is installed on this machine: this test would replace and purge it"
  fi
done

tmp=$(mktemp -d /tmp/maillimit-deb.XXXXXX)
run=
daemon_pid=
masked=0
user_existed=0
getent passwd maillimit >/dev/null && user_existed=1
installed=0

cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  if [ "$installed" = 1 ]; then
    dpkg --purge "${packages[@]}" >/dev/null 2>&1
  fi
  if [ "$masked" = 1 ]; then
    systemctl unmask --runtime maillimitd.service >/dev/null 2>&1
  fi
  if [ "$user_existed" = 0 ] && getent passwd maillimit >/dev/null; then
    userdel maillimit >/dev/null 2>&1
    getent group maillimit >/dev/null && groupdel maillimit >/dev/null 2>&1
  fi
  [ -n "$run" ] && rm -rf "$run"
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. build -----------------------------------------------------------------------------
step "copy the source tree to $tmp/src"
mkdir -p "$tmp/src"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # tracked files and new ones not ignored: what a commit of this tree would hold
  (cd "$src" && git ls-files -co --exclude-standard -z |
     xargs -0 cp -a --parents -t "$tmp/src" 2>/dev/null) || true
else
  (cd "$src" && tar --exclude='./build*' --exclude='./obj-*' -cf - .) | tar -C "$tmp/src" -xf -
fi
[ -f "$tmp/src/debian/control" ] || fail "no debian/control in the copy of $src"

cd "$tmp/src" || exit 1
deb_version=$(dpkg-parsechangelog -S Version)
[ "$deb_version" = "$version" ] ||
  fail "debian/changelog is at $deb_version, the library at $version: add a changelog entry"

if ! dpkg-checkbuilddeps 2>"$tmp/builddeps"; then
  cat "$tmp/builddeps"
  fail "build dependencies missing (apt-get install them)"
fi

step "dpkg-buildpackage -us -uc -b"
if ! env -i PATH="$PATH" LC_ALL=C.UTF-8 HOME="$tmp" DEB_BUILD_OPTIONS="parallel=2" \
     dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1; then
  tail -n 60 "$tmp/build.log"
  fail "dpkg-buildpackage failed (the last 60 lines of its log are above)"
fi
grep -E '^(Ran [0-9]+ tests|php binding: )' "$tmp/build.log" || true
cd "$tmp" || exit 1
debs=()
for p in "${packages[@]}"; do
  f=$(ls "$tmp/${p}_${version}_"*.deb 2>/dev/null | head -n 1)
  [ -n "$f" ] || fail "no package $p was built"
  debs+=("$f")
done
ls -l "$tmp"/*.deb | awk '{print $5, $NF}'

# --- 2. lintian -----------------------------------------------------------------------------
step "lintian"
lintian --display-info --fail-on error,warning "$tmp"/*.changes >"$tmp/lintian.txt" 2>&1
lintian_rc=$?
grep -v '^running with root privileges' "$tmp/lintian.txt" | grep -E '^[EWIPX]:' || true
[ "$lintian_rc" -eq 0 ] || fail "lintian reports errors or warnings (above)"
echo "lintian: no errors, no warnings"

# --- 3. install and check -------------------------------------------------------------------
if [ -d /run/systemd/system ]; then
  systemctl mask --runtime maillimitd.service >/dev/null || fail "cannot mask maillimitd.service"
  masked=1
fi
step "dpkg -i ${packages[*]}"
installed=1
dpkg -i "${debs[@]}" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log"; fail "dpkg -i failed"; }

getent passwd maillimit >/dev/null || fail "no system user maillimit (sysusers.d)"
conf=/etc/maillimit/maillimit.conf
dpkg-query -W -f='${Conffiles}\n' maillimitd | grep -q " $conf " ||
  fail "$conf is not a conffile of maillimitd"
/usr/sbin/maillimitd --check-config -c "$conf" || fail "the packaged $conf is refused"
v=$(/usr/sbin/maillimitd -V)
[ "$v" = "maillimitd (libmaillimit $version)" ] || fail "maillimitd -V: $v"
[ "$(readlink /var/lib/maillimit/maillimitd.sock)" = /run/maillimit/maillimitd.sock ] ||
  fail "/var/lib/maillimit/maillimitd.sock is not a link to the packaged admin socket"
for m in man8/maillimitd.8 man8/maillimitctl.8 man5/maillimit.conf.5 man3/libmaillimit.3; do
  [ -f "/usr/share/man/$m.gz" ] || fail "no man page /usr/share/man/$m.gz"
done

unit=/lib/systemd/system/maillimitd.service
grep -qxF "ExecStart=/usr/sbin/maillimitd -f -c $conf" "$unit" || fail "$unit: ExecStart"
man_opt=--man=no
command -v man >/dev/null && man_opt=--man=yes
out=$(systemd-analyze verify "$man_opt" "$unit" 2>&1)
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify $unit"; }
echo "systemd-analyze verify $man_opt: the unit is clean"

for f in /usr/sbin/maillimitd /usr/sbin/maillimitctl; do
  if ldd "$f" | grep -q 'not found'; then ldd "$f"; fail "$f: libraries not found"; fi
done

pcv=$(pkg-config --modversion maillimit)
[ "$pcv" = "$version" ] || fail "pkg-config --modversion maillimit: $pcv"
cat >"$tmp/consumer.c" <<'EOF'
#include <maillimit.h>
#include <maillimit/server.h>
#include <stdio.h>
int main(void)
{
    maillimit *ml = NULL;
    if (maillimit_new(&ml) != 0)
        return 1;
    maillimit_free(ml);
    printf("%s\n", maillimit_version_string());
    return 0;
}
EOF
# shellcheck disable=SC2046
cc -o "$tmp/consumer" "$tmp/consumer.c" $(pkg-config --cflags --libs maillimit) ||
  fail "a program does not build with pkg-config maillimit"
[ "$("$tmp/consumer")" = "$version" ] || fail "the consumer does not run"

# the package's module, not one pip put under /usr/local
py=$(/usr/bin/python3 -I -c 'import sys
sys.path = [p for p in sys.path if not p.startswith("/usr/local/")]
import maillimit
maillimit.Limiter()
print(maillimit.version_string(), maillimit.__file__, maillimit.library_path)') ||
  fail "python3: import maillimit"
echo "python3: maillimit $py"
read -r pyv pyfile _ <<<"$py"
[ "$pyv" = "$version" ] || fail "python3: version $pyv"
[ "$pyfile" = /usr/lib/python3/dist-packages/maillimit/__init__.py ] ||
  fail "python3: maillimit came from $pyfile"

php_out=$(php -r 'require_once "Maillimit/autoload.php";
  foreach (["Maillimit\\Limiter", "Maillimit\\Client"] as $c) {
      if (!class_exists($c)) { fwrite(STDERR, "no class $c\n"); exit(1); }
  }
  new Maillimit\Limiter();
  echo Maillimit\Library::versionString(), "\n";') || fail "php: the Maillimit classes"
echo "php: Maillimit\\Limiter and Maillimit\\Client, library $php_out"
[ "$php_out" = "$version" ] || fail "php: version $php_out"

# --- 4. the installed daemon, once, on a private configuration ------------------------------
step "maillimitd -f as user maillimit on 127.0.0.1, private admin socket and state file"
run=$(mktemp -d /tmp/maillimit-run.XXXXXX)
chown maillimit:maillimit "$run"
chmod 0700 "$run"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$run/maillimit.conf" <<EOF
policy_listen inet:127.0.0.1:$port
admin_listen unix:$run/maillimitd.sock mode=0600
state_file $run/state.snap
log stderr
server mailbox=1
subscription acme
domain acme.example subscription=acme
EOF
chown maillimit:maillimit "$run/maillimit.conf"
# setpriv execs the daemon (runuser would stay as its parent and answer SIGTERM itself)
setpriv --reuid=maillimit --regid=maillimit --init-groups -- \
  /usr/sbin/maillimitd -f -c "$run/maillimit.conf" >"$run/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  [ -S "$run/maillimitd.sock" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$run/daemon.log"; fail "maillimitd exited"; }
  sleep 0.1
done
[ -S "$run/maillimitd.sock" ] || { cat "$run/daemon.log"; fail "no admin socket after 10 s"; }

ctl=(/usr/sbin/maillimitctl -s "$run/maillimitd.sock")
"${ctl[@]}" version | tee "$run/version.txt" || fail "maillimitctl version"
grep -q "$version" "$run/version.txt" || fail "maillimitctl version does not say $version"

# Two messages of the SASL-authenticated mailbox ceo@acme.example (its domain is known, so
# it is limited by `server mailbox=1`): the first passes, the second is deferred.
policy() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\nsasl_username=ceo@acme.example\nsender=ceo@acme.example\nrecipient=x@example.org\ninstance=%s\n\n' "$1" >&3
  local line
  IFS= read -r -t 5 line <&3
  exec 3<&-
  printf '%s\n' "$line"
}
a1=$(policy i1) || fail "no answer from the policy service on 127.0.0.1:$port"
a2=$(policy i2)
echo "policy: $a1 / $a2"
[ "$a1" = "action=DUNNO" ] || fail "first message: $a1 (expected action=DUNNO)"
case "$a2" in
  "action=450 4.7.0 "*) ;;
  *) fail "second message: $a2 (expected a 450 over mailbox=1)" ;;
esac
"${ctl[@]}" status mailbox ceo@acme.example || fail "maillimitctl status"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
cat "$run/daemon.log"
[ "$rc" -eq 0 ] || fail "maillimitd exited $rc after SIGTERM"
[ "$(stat -c %U "$run/state.snap" 2>/dev/null)" = maillimit ] ||
  fail "no state file saved by the user maillimit"

# --- 5. purge -------------------------------------------------------------------------------
step "dpkg --purge"
dpkg --purge "${packages[@]}" >"$tmp/dpkg-purge.log" 2>&1 ||
  { cat "$tmp/dpkg-purge.log"; fail "dpkg --purge failed"; }
installed=0
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
    fail "$p is still known to dpkg after --purge"
  fi
done
for f in /etc/maillimit /var/lib/maillimit /usr/sbin/maillimitd /usr/share/php/Maillimit \
         /usr/lib/python3/dist-packages/maillimit "$unit"; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is left after the purge"
done

echo
echo "packaging_debian: built, lintian-clean, installed, ran and purged in $((SECONDS - t0)) s"
