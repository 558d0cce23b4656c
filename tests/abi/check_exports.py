#!/usr/bin/env python3
"""The shared library exports exactly the committed symbol list, and the list is the header's.

  check_exports.py --lib libmaillimit.so --list exports.txt --include-dir include [--nm nm]

Fails (printing a diff) when
- exports.txt is not sorted and free of duplicates;
- a MAILLIMIT_API function declared in include/maillimit.h (or include/maillimit/*.h) is not
  in exports.txt, or exports.txt names a function that no public header declares;
- the set of symbols `nm -D --defined-only` finds in the library differs from exports.txt.

Adding a function: declare it with MAILLIMIT_API in the header, add its name to exports.txt
(keep it sorted: `LC_ALL=C sort`), say so in CHANGELOG.md.
"""
import argparse
import difflib
import os
import re
import subprocess
import sys


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def header_functions(include_dir):
    headers = [os.path.join(include_dir, "maillimit.h")]
    sub = os.path.join(include_dir, "maillimit")
    if os.path.isdir(sub):
        headers += sorted(os.path.join(sub, f) for f in os.listdir(sub) if f.endswith(".h"))
    names = set()
    for h in headers:
        with open(h) as f:
            code = strip_comments(f.read())
        names.update(re.findall(r"\bMAILLIMIT_API\b[^;(]*?\b(maillimit_[A-Za-z0-9_]+)\s*\(",
                                code, re.S))
    return names


def exported(lib, nm):
    r = subprocess.run([nm, "-D", "--defined-only", lib], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        sys.exit(f"FAIL {nm} -D --defined-only {lib}: {r.stderr.strip()}")
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1]
        if kind == "A":
            continue  # a symbol-version node such as MAILLIMIT_0, not a symbol
        out[name.split("@")[0]] = kind
    return out


def show_diff(title, want, have, want_name, have_name):
    print(f"FAIL {title}")
    sys.stdout.writelines(difflib.unified_diff(
        [n + "\n" for n in sorted(want)], [n + "\n" for n in sorted(have)],
        fromfile=want_name, tofile=have_name, n=0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--include-dir", required=True)
    ap.add_argument("--nm", default="nm")
    a = ap.parse_args()

    with open(a.list) as f:
        lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    failed = 0
    if lines != sorted(set(lines)):
        show_diff("exports.txt must be sorted (LC_ALL=C sort -u)", sorted(set(lines)), lines,
                  "sorted", "exports.txt")
        failed += 1
    listed = set(lines)

    declared = header_functions(a.include_dir)
    if declared != listed:
        show_diff("exports.txt differs from the MAILLIMIT_API functions of the public headers",
                  declared, listed, "headers", "exports.txt")
        failed += 1
    else:
        print(f"ok   exports.txt lists the {len(declared)} functions the headers declare")

    syms = exported(a.lib, a.nm)
    if set(syms) != listed:
        show_diff(f"{os.path.basename(a.lib)} exports differ from exports.txt",
                  listed, set(syms), "exports.txt", "nm -D --defined-only")
        failed += 1
    else:
        print(f"ok   {os.path.basename(a.lib)} exports exactly the {len(listed)} listed symbols")
    not_code = sorted(n for n, k in syms.items() if k not in ("T", "W", "i") and n in listed)
    if not_code:
        print("FAIL exported as data, not functions: " + ", ".join(not_code))
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
