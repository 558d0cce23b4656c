# SPDX-License-Identifier: MIT
"""Library information, loading, constants and the ctypes layouts against the header."""
import os
import re
import subprocess
import sys
import unittest

import maillimit
from maillimit import ErrorCode, _native
from helpers import HEADER

PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(maillimit.__file__)))


def run_python(code, env_update):
    env = dict(os.environ)
    env.update(env_update)
    env["PYTHONPATH"] = PKG_DIR
    return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          timeout=60)


class TestInformation(unittest.TestCase):
    def test_version_number_and_string_agree(self):
        n = maillimit.version_number()
        self.assertEqual(n // 10000, maillimit.HEADER_VERSION_MAJOR)
        self.assertEqual(maillimit.version_string(), f"{n // 10000}.{n // 100 % 100}.{n % 100}")

    def test_strerror_of_every_code(self):
        texts = {
            0: "success", -1: "invalid argument", -2: "out of memory", -3: "not found",
            -4: "already exists elsewhere", -5: "value out of range", -6: "input/output error",
            -7: "malformed input", -8: "buffer too small", -9: "no more items",
            -10: "resource busy", -11: "unsupported version",
        }
        for code, text in texts.items():
            self.assertEqual(maillimit.strerror(code), text)
        self.assertEqual(maillimit.strerror(-12), "unknown error")
        self.assertEqual(maillimit.strerror(1), "unknown error")
        self.assertEqual(maillimit.strerror(1 << 40), "unknown error")  # not truncated to 0
        self.assertEqual(maillimit.strerror(ErrorCode.ENOTFOUND), "not found")

    def test_errname_of_every_code(self):
        names = ["OK", "EINVAL", "ENOMEM", "ENOTFOUND", "EEXISTS", "ERANGE", "EIO", "EFORMAT",
                 "ENOBUFS", "EDONE", "EBUSY", "EVERSION"]
        for i, name in enumerate(names):
            self.assertEqual(maillimit.errname(-i), "MAILLIMIT_" + name)
        self.assertEqual(maillimit.errname(-12), "MAILLIMIT_E?")
        self.assertEqual(maillimit.errname(1 << 40), "MAILLIMIT_E?")
        self.assertEqual(maillimit.errname(ErrorCode.EDONE), "MAILLIMIT_EDONE")

    def test_library_path_is_the_one_loaded(self):
        want = os.environ.get("MAILLIMIT_LIBRARY")
        if want:
            self.assertEqual(maillimit.library_path, want)
        self.assertTrue(_native.has("maillimit_decide"))
        self.assertFalse(_native.has("maillimit_no_such_function"))
        with self.assertRaises(NotImplementedError):
            _native.function("maillimit_no_such_function")


class TestLoading(unittest.TestCase):
    def test_bad_library_path_raises_library_not_found(self):
        r = run_python("import maillimit", {"MAILLIMIT_LIBRARY": "/nonexistent/libmaillimit.so"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("maillimit.errors.LibraryNotFound: libmaillimit not found", r.stdout)
        self.assertIn("/nonexistent/libmaillimit.so (MAILLIMIT_LIBRARY)", r.stdout)

    def test_a_library_that_is_not_libmaillimit_is_refused(self):
        r = run_python("import maillimit", {"MAILLIMIT_LIBRARY": "libc.so.6"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not export maillimit_version_number: not libmaillimit?", r.stdout)

    def test_library_not_found_is_an_import_error(self):
        self.assertTrue(issubclass(maillimit.LibraryNotFound, ImportError))

    def test_pkg_config_is_used_without_the_env_var(self):
        self.assertTrue(os.environ.get("MAILLIMIT_LIBRARY"), "ctest sets MAILLIMIT_LIBRARY")
        libdir = os.path.dirname(os.environ["MAILLIMIT_LIBRARY"])
        pcdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ml-pc-{os.getpid()}")
        os.makedirs(pcdir, exist_ok=True)
        with open(os.path.join(pcdir, "maillimit.pc"), "w") as f:
            f.write(f"libdir={libdir}\nName: maillimit\nDescription: t\nVersion: 0\n"
                    "Libs: -lmaillimit\n")
        code = "import maillimit; print(maillimit.library_path)"
        env = {"MAILLIMIT_LIBRARY": "", "PKG_CONFIG_PATH": pcdir, "PKG_CONFIG_LIBDIR": pcdir}
        r = run_python(code, env)
        import shutil
        shutil.rmtree(pcdir)
        self.assertIsNotNone(shutil.which("pkg-config"), "pkg-config is a build dependency")
        self.assertEqual(r.returncode, 0, r.stdout)
        found = r.stdout.strip()
        self.assertTrue(found in (os.path.join(libdir, "libmaillimit.so.1"),
                                  os.path.join(libdir, "libmaillimit.so")), found)


def header_text():
    with open(HEADER) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


@unittest.skipIf(HEADER is None, "include/maillimit.h not found (set MAILLIMIT_HEADER)")
class TestAgainstHeader(unittest.TestCase):
    """The binding's constants, enums and struct layouts equal the header's."""

    def enum_values(self):
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"\b(MAILLIMIT_[A-Z0-9_]+)\s*=\s*(-?\d+)", header_text())}

    def test_enums_match_the_header(self):
        h = self.enum_values()
        groups = {
            "MAILLIMIT_LEVEL_": maillimit.Level, "MAILLIMIT_WINDOW_": maillimit.Window,
            "MAILLIMIT_REASON_": maillimit.Reason, "MAILLIMIT_FLAG_": maillimit.Flag,
            "MAILLIMIT_UNIT_": maillimit.Unit,
        }
        for prefix, enum in groups.items():
            want = {k[len(prefix):]: v for k, v in h.items() if k.startswith(prefix)}
            self.assertEqual({e.name: e.value for e in enum}, want, prefix)
        errors = {k[len("MAILLIMIT_"):]: v for k, v in h.items()
                  if re.fullmatch(r"MAILLIMIT_(OK|E[A-Z]+)", k)}
        self.assertEqual({e.name: e.value for e in ErrorCode}, errors)
        self.assertEqual(maillimit.Decision.ALLOW, h["MAILLIMIT_ALLOW"])
        self.assertEqual(maillimit.Decision.DENY, h["MAILLIMIT_DENY"])
        self.assertEqual(maillimit.UNLIMITED, h["MAILLIMIT_UNLIMITED"])
        self.assertEqual(maillimit.DEFAULT, h["MAILLIMIT_DEFAULT"])
        self.assertEqual(maillimit.COST_MAX, h["MAILLIMIT_COST_MAX"])
        self.assertEqual(maillimit.NAME_MAX, h["MAILLIMIT_NAME_MAX"])
        self.assertEqual(maillimit.VERDICT_VERSION, h["MAILLIMIT_VERDICT_VERSION"])
        self.assertEqual(maillimit.STATUS_VERSION, h["MAILLIMIT_STATUS_VERSION"])
        self.assertEqual(maillimit.REQUEST_VERSION, h["MAILLIMIT_REQUEST_VERSION"])
        self.assertEqual(maillimit.HEADER_VERSION_MAJOR, h["MAILLIMIT_HEADER_VERSION_MAJOR"])
        self.assertEqual(maillimit.HEADER_VERSION_MINOR, h["MAILLIMIT_HEADER_VERSION_MINOR"])
        self.assertEqual(maillimit.HEADER_VERSION_NUMBER, h["MAILLIMIT_HEADER_VERSION_NUMBER"])
        self.assertEqual(maillimit.LIST_SYSUSER, h["MAILLIMIT_LIST_SYSUSER"])
        self.assertEqual(maillimit.ENTITY_VERSION, h["MAILLIMIT_ENTITY_VERSION"])

    def test_structs_match_the_header(self):
        ctypes_names = {"uint32_t": "c_uint", "int32_t": "c_int", "int64_t": "c_long",
                        "uint64_t": "c_ulong", "size_t": "c_ulong"}
        text = header_text()
        structs = {name: cls for name, cls in vars(_native).items()
                   if isinstance(cls, type) and hasattr(cls, "_fields_")}
        by_c = {"maillimit_verdict": structs["VerdictC"], "maillimit_status": structs["StatusC"]}
        for m in re.finditer(r"typedef\s+struct\s+(maillimit_\w+)\s*\{([^}]*)\}", text):
            cname, body = m.group(1), m.group(2)
            fields = [tuple(f.split()) for f in body.replace("\n", " ").split(";") if f.strip()]
            if cname not in by_c:
                cls = next((c for c in structs.values()
                            if getattr(c, "_c_name_", None) == cname), None)
                self.assertIsNotNone(cls, f"struct {cname} has no ctypes layout")
                by_c[cname] = cls
            got = [(t.__name__, n) for n, t in by_c[cname]._fields_]
            want = []
            for f in fields:
                t, n = " ".join(f[:-1]), f[-1]
                m = re.fullmatch(r"(\w+)\[(\w+)\]", n)
                if t in ("char", "const char") and n.startswith("*"):  # const char *sender
                    want.append(("c_char_p", n[1:]))
                elif t == "char" and m:  # char name[MAILLIMIT_NAME_BUFFER]
                    size = m.group(2)
                    size = int(size) if size.isdigit() else self.enum_values()[size]
                    want.append((f"c_char_Array_{size}", m.group(1)))
                else:
                    want.append((ctypes_names[t], n))
            self.assertEqual(got, want, cname)

    def test_every_prototype_matches_the_header(self):
        """The ctypes restype/argtypes of every MAILLIMIT_API function equal its C
        declaration (a signature change in the header fails here, not in a crash)."""
        import ctypes
        structs = {getattr(c, "_c_name_"): c for c in vars(_native).values()
                   if isinstance(c, type) and hasattr(c, "_c_name_")}
        opaque = set(re.findall(r"typedef\s+struct\s+(\w+)\s+\1\s*;", header_text()))
        scalars = {"int": ctypes.c_int, "uint32_t": ctypes.c_uint32, "int64_t": ctypes.c_int64,
                   "uint64_t": ctypes.c_uint64, "size_t": ctypes.c_size_t}

        def ctype(decl, is_return=False):
            decl = re.sub(r"\bconst\b", "", decl)
            stars = decl.count("*")
            base = decl.replace("*", "").split()[-1]
            if stars == 0:
                return None if base == "void" else scalars[base]
            if stars == 2:
                return ctypes.POINTER(ctypes.c_void_p)
            if base == "char":
                return ctypes.c_char_p
            if base == "void":
                return (ctypes.c_void_p, ctypes.c_char_p)  # a buffer out, or bytes in
            if base in opaque:
                return ctypes.c_void_p
            if base in structs:
                return ctypes.POINTER(structs[base])
            return ctypes.POINTER(scalars[base])

        decls = re.findall(r"\bMAILLIMIT_API\s+([^;(]*?)\b(maillimit_\w+)\s*\(([^)]*)\)",
                           header_text(), re.S)
        self.assertGreater(len(decls), 40)
        for ret, name, params in decls:
            with self.subTest(function=name):
                self.assertIn(name, _native.PROTOTYPES)
                restype, argtypes = _native.PROTOTYPES[name]
                ret = ret.strip()
                if ret.endswith("*"):
                    self.assertIs(restype, ctypes.c_char_p)
                else:
                    self.assertIs(restype, ctype(ret, True))
                params = [p.strip() for p in params.replace("\n", " ").split(",")]
                if params == ["void"]:
                    params = []
                self.assertEqual(len(argtypes), len(params))
                for got, param in zip(argtypes, params):
                    # drop the parameter's name: the last identifier
                    decl = re.sub(r"\b\w+\s*$", "", param).strip() or param
                    want = ctype(decl)
                    if isinstance(want, tuple):
                        self.assertIn(got, want, param)
                    else:
                        self.assertIs(got, want, param)

    def test_version_check_refuses_another_major(self):
        with self.assertRaises(maillimit.LibraryNotFound) as cm:
            _native.check_version(10000 * (maillimit.HEADER_VERSION_MAJOR + 1), "libx.so")
        self.assertIn("this binding needs major version", str(cm.exception))
        _native.check_version(maillimit.version_number(), "libx.so")  # no exception


if __name__ == "__main__":
    unittest.main()
