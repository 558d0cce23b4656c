#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Shared libraries export exactly their committed symbol lists, and the lists are the headers'.

One library against its list and header(s):

  check_exports.py --lib libmaillimit.so --list exports.txt --header include/maillimit.h

fails (printing a diff) when
- the list is not sorted and free of duplicates;
- a MAILLIMIT_API function declared in the header(s) is not in the list, or the list names a
  function the header(s) do not declare;
- the set of symbols `nm -D --defined-only` finds in the library differs from the list.

Every public header is covered by some list:

  check_exports.py --cover --include-dir include --list exports.txt --list exports_server.txt

fails when a MAILLIMIT_API function of include/maillimit.h or include/maillimit/*.h is in
none of the lists (a new header whose functions nobody checks), or in more than one.

Adding a function: declare it with MAILLIMIT_API in its header, add its name to the list of
its library (exports.txt: libmaillimit, exports_server.txt: libmaillimit_server; keep it
sorted: `LC_ALL=C sort`), add it to the library's version script if that is not a wildcard,
and say so in CHANGELOG.md.
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


def header_functions(headers):
    names = set()
    for h in headers:
        with open(h) as f:
            code = strip_comments(f.read())
        names.update(re.findall(r"\bMAILLIMIT_API\b[^;(]*?\b(maillimit_[A-Za-z0-9_]+)\s*\(",
                                code, re.S))
    return names


def public_headers(include_dir):
    headers = [os.path.join(include_dir, "maillimit.h")]
    sub = os.path.join(include_dir, "maillimit")
    if os.path.isdir(sub):
        headers += sorted(os.path.join(sub, f) for f in os.listdir(sub) if f.endswith(".h"))
    return headers


def read_list(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


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
            continue  # a symbol-version node such as MAILLIMIT_1.0, not a symbol
        out[name.split("@")[0]] = kind
    return out


def show_diff(title, want, have, want_name, have_name):
    print(f"FAIL {title}")
    sys.stdout.writelines(difflib.unified_diff(
        [n + "\n" for n in sorted(want)], [n + "\n" for n in sorted(have)],
        fromfile=want_name, tofile=have_name, n=0))


def check_library(a):
    lst = a.list[0]
    name = os.path.basename(lst)
    lines = read_list(lst)
    failed = 0
    if lines != sorted(set(lines)):
        show_diff(f"{name} must be sorted (LC_ALL=C sort -u)", sorted(set(lines)), lines,
                  "sorted", name)
        failed += 1
    listed = set(lines)

    declared = header_functions(a.header)
    hdrs = ", ".join(os.path.basename(h) for h in a.header)
    if declared != listed:
        show_diff(f"{name} differs from the MAILLIMIT_API functions of {hdrs}",
                  declared, listed, hdrs, name)
        failed += 1
    else:
        print(f"ok   {name} lists the {len(declared)} functions {hdrs} declares")

    syms = exported(a.lib, a.nm)
    libname = os.path.basename(a.lib)
    if set(syms) != listed:
        show_diff(f"{libname} exports differ from {name}", listed, set(syms), name,
                  f"nm -D --defined-only {libname}")
        failed += 1
    else:
        print(f"ok   {libname} exports exactly the {len(listed)} listed symbols")
    not_code = sorted(n for n, k in syms.items() if k not in ("T", "W", "i") and n in listed)
    if not_code:
        print("FAIL exported as data, not functions: " + ", ".join(not_code))
        failed += 1
    return failed


def check_cover(a):
    declared = header_functions(public_headers(a.include_dir))
    seen = {}
    for lst in a.list:
        for n in read_list(lst):
            seen.setdefault(n, []).append(os.path.basename(lst))
    failed = 0
    missing = sorted(declared - set(seen))
    if missing:
        print("FAIL declared in a public header but in no export list: " + ", ".join(missing))
        failed += 1
    twice = sorted(f"{n} ({', '.join(l)})" for n, l in seen.items() if len(l) > 1)
    if twice:
        print("FAIL in more than one export list: " + ", ".join(twice))
        failed += 1
    if not failed:
        print(f"ok   the {len(declared)} public functions are each in exactly one export list")
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cover", action="store_true")
    ap.add_argument("--lib")
    ap.add_argument("--list", action="append", default=[])
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--include-dir")
    ap.add_argument("--nm", default="nm")
    a = ap.parse_args()
    if a.cover:
        if not a.include_dir or not a.list:
            ap.error("--cover needs --include-dir and --list")
        return 1 if check_cover(a) else 0
    if not a.lib or len(a.list) != 1 or not a.header:
        ap.error("needs --lib, one --list and --header")
    return 1 if check_library(a) else 0


if __name__ == "__main__":
    sys.exit(main())
