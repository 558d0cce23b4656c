#!/bin/bash
# SPDX-License-Identifier: MIT
# `pip install ./bindings/python` works offline on Debian (python3-pip, python3-setuptools,
# python3-wheel; no build isolation, no index), and the installed package finds the library
# and has both Limiter and Client. The source is copied first: setuptools writes build/ and
# *.egg-info next to it.
#
#   check_install.sh PYTHON BINDING_DIR LIBRARY
set -eu
PY=${1:?usage: check_install.sh PYTHON BINDING_DIR LIBRARY}
SRC=${2:?}
LIB=${3:?}
T=$(mktemp -d /tmp/maillimit-pip.XXXXXX)
trap 'rm -rf "$T"' EXIT
cp -r "$SRC" "$T/src"
rm -rf "$T/src/build" "$T/src"/*.egg-info
"$PY" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-index \
    --no-deps --target "$T/site" "$T/src" 2>&1 | grep -v "Running pip as the 'root' user" || true
[ -f "$T/site/maillimit/__init__.py" ] || { echo "FAIL: pip did not install the package"; exit 1; }
cd "$T"
MAILLIMIT_LIBRARY=$LIB PYTHONPATH="$T/site" "$PY" - "$T/site" <<'PY'
import os, sys
import maillimit
site = sys.argv[1]
assert maillimit.__file__ == os.path.join(site, "maillimit", "__init__.py"), maillimit.__file__
assert os.path.exists(os.path.join(site, "maillimit", "py.typed")), "py.typed not installed"
assert os.path.isdir(os.path.join(site, "maillimit-%s.dist-info" % maillimit.__version__))
with maillimit.Limiter() as ml:
    ml.subscription_add("acme")
    assert [e.name for e in ml.list(maillimit.Level.SUBSCRIPTION)] == ["acme"]
assert issubclass(maillimit.Client, maillimit.MaillimitAPI)
print("pip install: maillimit %s from %s, library %s" % (maillimit.__version__, site,
                                                         maillimit.version_string()))
PY
