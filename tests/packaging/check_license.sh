#!/bin/bash
# SPDX-License-Identifier: MIT
# Every place that states the license says MIT (Debian's name for it: Expat), with the same
# copyright holder.
#
#   check_license.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 1
fail=0
check() {   # FILE EXTENDED-REGEX WHAT
  if grep -Eq -- "$2" "$1" 2>/dev/null; then
    echo "ok: $1: $3"
  else
    echo "FAIL: $1: $3 (no line matching: $2)"
    fail=1
  fi
}
check LICENSE '^MIT License$' "MIT"
check LICENSE '^Copyright \(c\) 2026 The libmaillimit authors$' "copyright holder"
check bindings/php/composer.json '"license": "MIT"' "composer license"
check bindings/python/pyproject.toml '^license = \{ text = "MIT" \}$' "pyproject license"
check bindings/python/pyproject.toml '"License :: OSI Approved :: MIT License"' "classifier"
check maillimit.pc.in '^License: MIT$' "pkg-config License field"
check cmake/maillimitConfig.cmake.in '^set\(maillimit_LICENSE "MIT"\)$' "CMake maillimit_LICENSE"
check debian/copyright '^License: Expat$' "Debian copyright (Expat is MIT)"
check debian/copyright '^Copyright: 2026 The libmaillimit authors$' "Debian copyright holder"
# the license text itself: LICENSE and debian/copyright carry the same words
a=$(sed -n '/^Permission is hereby granted/,$p' LICENSE | tr -s ' \n' '  ')
b=$(tac debian/copyright | sed '/^License: Expat$/q' | tac | sed -n '2,$p' |
    sed 's/^ \.$//; s/^ //' | tr -s ' \n' '  ')
if [ "$a" = "$b" ]; then
  echo "ok: debian/copyright has the text of LICENSE"
else
  echo "FAIL: debian/copyright's Expat text differs from LICENSE"
  fail=1
fi
exit "$fail"
