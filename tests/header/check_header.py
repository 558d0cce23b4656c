#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks of the public header(s) that a compiler alone does not make.

  check_header.py --include-dir DIR --cc CC [--cxx CXX]

1. c99:   every public header compiles alone (and twice) as C99 -pedantic -Werror.
2. c++:   ... and as C++11 -pedantic -Werror, with C linkage for every function.
3. cdef:  after `cpp -P` (no system includes, no predefined macros) the text is something an
          FFI cdef (cffi, PHP FFI, LuaJIT) can parse: no function-like macros, no attributes,
          inline or static functions, unions, bit-fields, varargs, `long`, `bool` or foreign
          `*_t` types; every versioned struct starts with `uint32_t version`; every integer
          `#define MAILLIMIT_*` exists as an enum value with the same value
          (MAILLIMIT_VERSION_* as MAILLIMIT_HEADER_VERSION_*).
4. version: MAILLIMIT_VERSION_NUMBER == MAJOR*10000 + MINOR*100 + PATCH, and
          MAILLIMIT_VERSION_STRING == "MAJOR.MINOR.PATCH".

Exit status 0 if every check passed, 1 otherwise. Uses only the Python standard library.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

FIXED_WIDTH_TYPES = {
    "int8_t", "int16_t", "int32_t", "int64_t",
    "uint8_t", "uint16_t", "uint32_t", "uint64_t", "size_t",
}
# Tokens (after preprocessing) that an FFI cdef cannot take or that STYLE.md rules out.
FORBIDDEN_TOKENS = {
    "__attribute__": "a GCC attribute (is MAILLIMIT_API empty without __GNUC__?)",
    "__declspec": "an MSVC attribute",
    "__extension__": "a GCC extension",
    "__asm__": "inline assembly", "asm": "inline assembly",
    "static": "a static declaration (macro-like inline function?)",
    "inline": "an inline function", "__inline": "an inline function",
    "__inline__": "an inline function",
    "_Bool": "bool (use int)", "bool": "bool (use int)",
    "long": "long (use a fixed-width type)",
    "union": "a union",
    "_Atomic": "an atomic type",
    "float": "a floating-point type", "double": "a floating-point type",
}
# Defines that are not constants and are allowed: the include guard (found below) and the
# export macro, which expands to nothing for an FFI.
ALLOWED_PLUMBING = {"MAILLIMIT_API"}

failures = []


def report(check, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {check}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(check)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kw)


def public_headers(include_dir):
    out = [os.path.join(include_dir, "maillimit.h")]
    sub = os.path.join(include_dir, "maillimit")
    if os.path.isdir(sub):
        out += sorted(os.path.join(sub, f) for f in os.listdir(sub) if f.endswith(".h"))
    return out


def rel(include_dir, header):
    return os.path.relpath(header, include_dir)


def logical_lines(text):
    """Join backslash continuations; yield (line_number, text)."""
    buf, start = "", None
    for no, line in enumerate(text.split("\n"), 1):
        if start is None:
            start = no
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield start, buf + line
        buf, start = "", None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def api_functions(text):
    """Names of the MAILLIMIT_API functions declared in a header."""
    code = strip_comments(text)
    return re.findall(r"\bMAILLIMIT_API\b[^;(]*?\b(maillimit_[A-Za-z0-9_]+)\s*\(", code, re.S)


def check_compile(args, tmp, headers):
    inc = args.include_dir
    c_flags = ["-std=c99", "-pedantic", "-Werror", "-Wall", "-Wextra", "-Wstrict-prototypes",
               "-Wmissing-prototypes", "-I", inc]
    for h in headers:
        name = rel(inc, h)
        tu = os.path.join(tmp, "alone.c")
        with open(tu, "w") as f:
            f.write(f'#include "{name}"\n#include "{name}"\n'
                    "typedef int maillimit_header_test_nonempty;\n")
        r = run([args.cc] + c_flags + ["-c", tu, "-o", os.path.join(tmp, "alone_c.o")])
        report(f"c99: {name} compiles alone as C99 -pedantic -Werror -Wall -Wextra",
               r.returncode == 0, r.stdout.strip())

    if not args.cxx:
        report("c++: a C++ compiler", False, "none found (pass --cxx)")
        return
    cxx_flags = ["-std=c++11", "-pedantic", "-Werror", "-Wall", "-Wextra", "-I", inc]
    for h in headers:
        name = rel(inc, h)
        with open(h) as f:
            funcs = sorted(set(api_functions(f.read())))
        tu = os.path.join(tmp, "alone.cpp")
        with open(tu, "w") as f:
            f.write(f'#include "{name}"\n#include "{name}"\n')
            # A reference to every function: the object file then names each one, which
            # shows whether it has C linkage (an unmangled name).
            for fn in funcs:
                f.write(f"decltype(&{fn}) header_test_ref_{fn} = &{fn};\n")
        obj = os.path.join(tmp, "alone_cxx.o")
        r = run([args.cxx] + cxx_flags + ["-c", tu, "-o", obj])
        report(f"c++: {name} compiles alone as C++11 -pedantic -Werror -Wall -Wextra",
               r.returncode == 0, r.stdout.strip())
        if r.returncode != 0 or not funcs:
            continue
        nm = run([args.nm, "-u", "--format=posix", obj])
        undefined = {line.split()[0] for line in nm.stdout.splitlines() if line.strip()}
        missing = [fn for fn in funcs if fn not in undefined]
        report(f"c++: {name} declares its {len(funcs)} functions with C linkage",
               nm.returncode == 0 and not missing,
               nm.stdout.strip() if nm.returncode else
               ("mangled or missing: " + ", ".join(missing) if missing else ""))


def parse_defines(text):
    """All #define lines: (line, name, params or None, body)."""
    out = []
    for no, line in logical_lines(text):
        m = re.match(r"\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(\([^)]*\))?(.*)$", line)
        if m:
            body = strip_comments(m.group(3)).strip()
            out.append((no, m.group(1), m.group(2), body))
    return out


def include_guard(text):
    m = re.search(r"^\s*#\s*ifndef\s+([A-Za-z_][A-Za-z0-9_]*)\s*\n\s*#\s*define\s+\1\b",
                  strip_comments(text), re.M)
    return m.group(1) if m else None


def int_literal(s):
    s = s.strip()
    while s.startswith("(") and s.endswith(")"):
        s = s[1:-1].strip()
    m = re.fullmatch(r"([-+]?)\s*(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*", s)
    if not m:
        return None
    v = int(m.group(2), 0)
    return -v if m.group(1) == "-" else v


def preprocess(args, tmp, text):
    """`cpp -P` the header as an FFI would: no includes, no predefined macros."""
    body = re.sub(r"^\s*#\s*include\b[^\n]*", "", text, flags=re.M)
    src = os.path.join(tmp, "cdef_in.h")
    with open(src, "w") as f:
        f.write(body)
    r = run([args.cc, "-E", "-P", "-undef", "-nostdinc", "-x", "c", src])
    return r


def check_cdef(args, tmp, headers):
    inc = args.include_dir
    enums = {}
    cdef_texts = []
    all_defines = []
    for h in headers:
        name = rel(inc, h)
        with open(h) as f:
            text = f.read()
        guard = include_guard(text)
        for no, macro, params, body in parse_defines(text):
            all_defines.append((name, no, macro, params, body, guard))
        r = preprocess(args, tmp, text)
        report(f"cdef: {name} preprocesses with `cpp -P -undef -nostdinc`", r.returncode == 0,
               r.stdout.strip() if r.returncode else "")
        if r.returncode != 0:
            continue
        cdef = r.stdout
        cdef_texts.append((name, cdef))
        for m in re.finditer(r"\b(MAILLIMIT_[A-Z0-9_]+)\s*=\s*([^,}]+)", cdef):
            enums[m.group(1)] = int_literal(m.group(2))

    problems = []
    for name, cdef in cdef_texts:
        code = cdef
        for tok, why in FORBIDDEN_TOKENS.items():
            if re.search(r"(?<![A-Za-z0-9_])" + re.escape(tok) + r"(?![A-Za-z0-9_])", code):
                problems.append(f"{name}: `{tok}`: {why}")
        if "..." in code:
            problems.append(f"{name}: `...`: a variadic function")
        if re.search(r'extern\s*"C"', code):
            problems.append(f'{name}: extern "C" left after preprocessing without __cplusplus')
        if re.search(r"^\s*#", code, re.M):
            problems.append(f"{name}: a preprocessor line survived `cpp -P`")
        for t in sorted(set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*_t\b", code))):
            if t not in FIXED_WIDTH_TYPES:
                problems.append(f"{name}: type `{t}` (only fixed-width integers and size_t)")
        if re.search(r"[A-Za-z0-9_]\s*:\s*[0-9]+\s*[;,]", code):
            problems.append(f"{name}: a bit-field")
        for m in re.finditer(r"\bstruct\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{([^}]*)\}", code):
            members = [x.strip() for x in m.group(2).split(";") if x.strip()]
            if not members or not re.fullmatch(r"uint32_t\s+version", members[0]):
                problems.append(f"{name}: struct {m.group(1)} does not start with "
                                f"`uint32_t version` (versioned structs only)")
    report("cdef: the preprocessed header(s) use only what an FFI cdef parses",
           not problems, "\n     " + "\n     ".join(problems) if problems else "")

    # Compile the cdef text itself (with the two standard headers it relies on) as C99.
    if cdef_texts:
        src = os.path.join(tmp, "cdef.c")
        with open(src, "w") as f:
            f.write("#include <stddef.h>\n#include <stdint.h>\n")
            for _, cdef in cdef_texts:
                f.write(cdef)
        r = run([args.cc, "-std=c99", "-pedantic", "-Werror", "-Wall", "-Wextra", "-c", src,
                 "-o", os.path.join(tmp, "cdef.o")])
        report("cdef: the preprocessed text is valid C99 on its own", r.returncode == 0,
               r.stdout.strip())

    # Macros: nothing may exist only as a macro.
    problems = []
    for name, no, macro, params, body, guard in all_defines:
        where = f"{name}:{no}: {macro}"
        if params is not None:
            problems.append(f"{where}: function-like macro")
            continue
        if macro == guard or macro in ALLOWED_PLUMBING:
            continue
        if macro == "MAILLIMIT_VERSION_STRING":
            continue  # a string; checked against the numbers below
        value = int_literal(body)
        if value is None:
            problems.append(f"{where}: `{body}` is not an integer constant "
                            "(an FFI cdef cannot see it)")
            continue
        mirror = macro.replace("MAILLIMIT_VERSION_", "MAILLIMIT_HEADER_VERSION_", 1) \
            if macro.startswith("MAILLIMIT_VERSION_") else macro
        if mirror not in enums:
            problems.append(f"{where}: no enum value {mirror}")
        elif enums[mirror] != value:
            problems.append(f"{where} = {value} but enum {mirror} = {enums[mirror]}")
    report("cdef: every #define constant also exists as an enum value with the same value",
           not problems, "\n     " + "\n     ".join(problems) if problems else "")
    return all_defines, enums


def check_version(all_defines, enums):
    d = {macro: body for _, _, macro, params, body, _ in all_defines if params is None}
    parts = {}
    for p in ("MAJOR", "MINOR", "PATCH", "NUMBER"):
        parts[p] = int_literal(d.get(f"MAILLIMIT_VERSION_{p}", ""))
    if None in parts.values():
        report("version: MAILLIMIT_VERSION_{MAJOR,MINOR,PATCH,NUMBER} are integers", False,
               repr(parts))
        return
    want = parts["MAJOR"] * 10000 + parts["MINOR"] * 100 + parts["PATCH"]
    report("version: MAILLIMIT_VERSION_NUMBER == MAJOR*10000 + MINOR*100 + PATCH",
           parts["NUMBER"] == want, f"{parts['NUMBER']} != {want}")
    report("version: MINOR and PATCH are 0..99 (two digits of the number)",
           0 <= parts["MINOR"] <= 99 and 0 <= parts["PATCH"] <= 99,
           f"minor {parts['MINOR']}, patch {parts['PATCH']}")
    report("version: MAILLIMIT_HEADER_VERSION_NUMBER == MAILLIMIT_VERSION_NUMBER",
           enums.get("MAILLIMIT_HEADER_VERSION_NUMBER") == parts["NUMBER"],
           f"enum {enums.get('MAILLIMIT_HEADER_VERSION_NUMBER')} vs {parts['NUMBER']}")
    s = d.get("MAILLIMIT_VERSION_STRING", "")
    want_s = f'"{parts["MAJOR"]}.{parts["MINOR"]}.{parts["PATCH"]}"'
    report("version: MAILLIMIT_VERSION_STRING == \"MAJOR.MINOR.PATCH\"", s == want_s,
           f"{s} != {want_s}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--include-dir", required=True)
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--cxx", default=os.environ.get("CXX", "c++"))
    ap.add_argument("--nm", default="nm")
    args = ap.parse_args()
    args.include_dir = os.path.abspath(args.include_dir)
    headers = public_headers(args.include_dir)
    if not os.path.isfile(headers[0]):
        print(f"FAIL no header {headers[0]}")
        return 1
    with tempfile.TemporaryDirectory(prefix="maillimit-header-") as tmp:
        check_compile(args, tmp, headers)
        all_defines, enums = check_cdef(args, tmp, headers)
        check_version(all_defines, enums)
    if failures:
        print(f"header: {len(failures)} check(s) failed")
        return 1
    print("header: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
