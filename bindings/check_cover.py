#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fail when a public C function is not wrapped by the Python and PHP bindings.

  check_cover.py --include-dir include --python bindings/python/maillimit \
                 --php bindings/php/src [--ignore server.h]

The public functions are the MAILLIMIT_API declarations of include/maillimit.h and of the
core headers include/maillimit/*.h (not the server layer's include/maillimit/server.h, which
bindings do not wrap). A function counts as wrapped

- in Python when bindings/python/maillimit/_native.py declares its prototype (ctypes needs
  argtypes/restype, or 64-bit arguments are passed wrong) AND another module of the package
  calls it (a declaration alone wraps nothing);
- in PHP when a file of bindings/php/src/ names it (the cdef comes from the header itself).

Prints every missing function per binding; exit status 0 when both cover the whole API.
Uses only the Python standard library.
"""
import argparse
import glob
import os
import re
import sys


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def api_functions(path):
    with open(path) as f:
        code = strip_comments(f.read())
    return re.findall(r"\bMAILLIMIT_API\b[^;(]*?\b(maillimit_[A-Za-z0-9_]+)\s*\(", code, re.S)


def referenced(names, files):
    texts = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    blob = "\n".join(texts)
    return {n for n in names if re.search(r"\b" + re.escape(n) + r"\b", blob)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--include-dir", required=True)
    ap.add_argument("--python", required=True, help="the package directory (maillimit/)")
    ap.add_argument("--php", required=True, help="the PHP sources (src/)")
    ap.add_argument("--ignore", action="append", default=["server.h"],
                    help="a header of include/maillimit/ that is not core (repeatable)")
    args = ap.parse_args()

    headers = [os.path.join(args.include_dir, "maillimit.h")]
    headers += sorted(h for h in glob.glob(os.path.join(args.include_dir, "maillimit", "*.h"))
                      if os.path.basename(h) not in args.ignore)
    names = []
    for h in headers:
        for n in api_functions(h):
            if n not in names:
                names.append(n)
    if not names:
        print(f"FAIL no MAILLIMIT_API function found in {', '.join(headers)}")
        return 1

    py_files = sorted(glob.glob(os.path.join(args.python, "*.py")))
    native = [p for p in py_files if os.path.basename(p) == "_native.py"]
    others = [p for p in py_files if os.path.basename(p) != "_native.py"]
    php_files = sorted(glob.glob(os.path.join(args.php, "*.php")))
    if not native or not others or not php_files:
        print("FAIL binding sources not found "
              f"(python: {args.python}, php: {args.php})")
        return 1

    declared = referenced(names, native)
    called = referenced(names, others)
    in_php = referenced(names, php_files)
    problems = {
        "python: no ctypes prototype in _native.py": [n for n in names if n not in declared],
        "python: not called by any module of the package": [n for n in names
                                                             if n not in called],
        "php: not referenced in src/*.php": [n for n in names if n not in in_php],
    }
    failed = False
    for what, missing in problems.items():
        if missing:
            failed = True
            print(f"FAIL {what}:")
            for n in missing:
                print(f"       {n}")
    rel = ", ".join(os.path.relpath(h, os.path.dirname(args.include_dir)) for h in headers)
    if failed:
        print(f"bindings_cover_api: the bindings do not wrap all {len(names)} functions of {rel}")
        return 1
    print(f"bindings_cover_api: Python and PHP wrap all {len(names)} functions of {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
