#!/bin/bash
# SPDX-License-Identifier: MIT
# Put the license's SPDX identifier at the head of the source files:
#
#   scripts/spdx.sh            add it to every tracked file that lacks it
#   scripts/spdx.sh --check    list the files that lack it; exit 1 if there are any
#   scripts/spdx.sh FILE...    only these files (tracked or not)
#
# Files: *.c *.h *.py *.php *.sh, CMakeLists.txt, *.cmake, *.cmake.in (not the fuzz corpora).
# A file has it when one of its first 5 lines contains "SPDX-License-Identifier:". Otherwise
# the identifier becomes the first comment of the file, in the file's own comment syntax:
#
#   C           /* SPDX-License-Identifier: MIT */        first line
#   PHP         // SPDX-License-Identifier: MIT           the line after <?php
#   the others  # SPDX-License-Identifier: MIT            first line, or after #! and a
#                                                         Python coding line
#
# so that it stands directly above the comment that opens the file. Running it twice changes
# nothing the second time.
set -euo pipefail

id="SPDX-License-Identifier: MIT"
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."

wanted() {
  case "$1" in
    tests/fuzz/corpus/*) return 1 ;;
    *.c | *.h | *.py | *.php | *.sh | CMakeLists.txt | */CMakeLists.txt | *.cmake | *.cmake.in) return 0 ;;
    *) return 1 ;;
  esac
}

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files)
fi

missing=0
changed=0
for f in "${files[@]}"; do
  wanted "$f" || continue
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  if head -n 5 "$f" | grep -q 'SPDX-License-Identifier:'; then
    continue
  fi
  missing=$((missing + 1))
  if [ "$check" -eq 1 ]; then
    echo "$f"
    continue
  fi
  tmp=$(mktemp "$f.spdx.XXXXXX")
  case "$f" in
    *.c | *.h)
      { printf '/* %s */\n' "$id"; cat "$f"; } >"$tmp" ;;
    *.php)
      # after the opening tag (the first line of every PHP file here); else at the top
      if head -n 1 "$f" | grep -q '^<?php'; then
        { head -n 1 "$f"; printf '// %s\n' "$id"; tail -n +2 "$f"; } >"$tmp"
      else
        { printf '<?php // %s ?>\n' "$id"; cat "$f"; } >"$tmp"
      fi ;;
    *)
      # after a #! line and, in Python, a coding declaration (PEP 263: line 1 or 2)
      skip=0
      if head -n 1 "$f" | grep -q '^#!'; then skip=1; fi
      if [[ "$f" == *.py ]] && sed -n "$((skip + 1))p" "$f" | grep -Eq '^#.*coding[:=]'; then
        skip=$((skip + 1))
      fi
      { head -n "$skip" "$f"; printf '# %s\n' "$id"; tail -n +"$((skip + 1))" "$f"; } >"$tmp" ;;
  esac
  chmod --reference="$f" "$tmp"
  mv "$tmp" "$f"
  changed=$((changed + 1))
done

if [ "$check" -eq 1 ]; then
  if [ "$missing" -gt 0 ]; then
    echo "spdx: $missing file(s) without \"$id\" (run scripts/spdx.sh)" >&2
    exit 1
  fi
  echo "spdx: every source file has its SPDX identifier"
else
  echo "spdx: added the identifier to $changed file(s)"
fi
