# SPDX-License-Identifier: MIT
"""new/free through Limiter: context manager, close, use after close, finalizers in any
order, verdict_init/status_init (the structs carry the version the library wants), and
deciding from several threads."""
import gc
import os
import subprocess
import sys
import threading
import unittest
import weakref

import maillimit
from maillimit import (InvalidArgument, Level, Limiter, MaillimitError, Window)
from helpers import HOUR, T0

PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(maillimit.__file__)))


class TestLifecycle(unittest.TestCase):
    def test_context_manager_closes(self):
        with Limiter() as ml:
            self.assertFalse(ml.closed)
            ml.plan_add("p")
        self.assertTrue(ml.closed)
        self.assertIn("closed", repr(ml))

    def test_use_after_close_is_invalid_argument(self):
        ml = Limiter()
        ml.close()
        ml.close()  # twice: a no-op
        for call in (lambda: ml.plan_add("p"), lambda: ml.decide(Level.MAILBOX, "a@b.c"),
                     lambda: ml.status(Level.SERVER, None), lambda: ml.enabled_get(),
                     lambda: ml.config_load_mem("enable yes\n")):
            with self.assertRaises(InvalidArgument) as cm:
                call()
            self.assertEqual(cm.exception.code, -1)
            self.assertEqual(cm.exception.detail, "the limiter is closed")
        with self.assertRaises(InvalidArgument):
            with ml:
                pass

    def test_garbage_collection_frees_the_handle(self):
        ml = Limiter()
        ref = weakref.ref(ml)
        fin = ml._finalizer
        del ml
        gc.collect()
        self.assertIsNone(ref())
        self.assertFalse(fin.alive)

    def test_many_handles(self):
        for _ in range(200):
            with Limiter() as ml:
                ml.subscription_add("s")

    def test_exceptions_are_picklable_and_carry_everything(self):
        import pickle
        ml = Limiter()
        self.addCleanup(ml.close)
        with self.assertRaises(MaillimitError) as cm:
            ml.domain_add("d.example", "nosuch")
        e = pickle.loads(pickle.dumps(cm.exception))
        self.assertIs(type(e), maillimit.NotFound)
        self.assertEqual((e.code, e.message, e.function), (-3, "not found", "maillimit_domain_add"))
        self.assertEqual(str(e), str(cm.exception))

    def test_every_error_code_has_a_class(self):
        want = {-1: "InvalidArgument", -2: "OutOfMemory", -3: "NotFound", -4: "Exists",
                -5: "RangeError", -6: "FileError", -7: "FormatError", -8: "BufferTooSmall",
                -9: "Done", -10: "Busy", -11: "VersionError", -99: "MaillimitError"}
        for code, name in want.items():
            cls = maillimit.errors.error_for(code)
            self.assertEqual(cls.__name__, name)
            e = cls(code, maillimit.strerror(code), "maillimit_x")
            self.assertEqual(e.code, code)
        self.assertTrue(issubclass(maillimit.OutOfMemory, MemoryError))
        self.assertTrue(issubclass(maillimit.FileError, OSError))
        self.assertTrue(issubclass(maillimit.RangeError, ValueError))


FINALIZER_SCRIPT = r"""
import gc, sys, maillimit
from maillimit import Level, Limiter
# Handles in every state at interpreter exit: a module global, a reference cycle, one
# referenced only by an iterator's owner, an open iterator, and one closed early.
KEEP = Limiter()
KEEP.subscription_add("s")
KEEP.decide(Level.SUBSCRIPTION, "s", 1, 1704103200)
ITER = KEEP.history_open(Level.SUBSCRIPTION, "s", 1704103200, 1704106800, 1704103201)
class Cycle:
    def __init__(self):
        self.me = self
        self.ml = Limiter()
Cycle()
closed = Limiter(); closed.close()
class Late:
    # Its __del__ runs during teardown, possibly after the module globals are gone.
    def __init__(self):
        self.ml = Limiter()
    def __del__(self):
        self.ml.close()
LATE = Late()
sys.modules["late_holder"] = LATE   # torn down in some order the test does not control
print("done")
"""


class TestFinalizerOrder(unittest.TestCase):
    def test_interpreter_exit_with_live_handles_is_clean(self):
        env = dict(os.environ, PYTHONPATH=PKG_DIR, PYTHONDEVMODE="1")
        r = subprocess.run([sys.executable, "-X", "dev", "-c", FINALIZER_SCRIPT],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "done\n")
        self.assertEqual(r.stderr, "")


class TestThreads(unittest.TestCase):
    def test_threads_never_over_admit_through_the_binding(self):
        with Limiter() as ml:
            ml.subscription_add("s")
            ml.domain_add("d.example", "s")
            ml.limit_set(Level.DOMAIN, "d.example", Level.DOMAIN, Window.HOUR, 1000)
            allowed = [0] * 4

            def worker(i):
                n = 0
                for j in range(600):
                    if ml.decide(Level.MAILBOX, f"m{j % 7}@d.example", 1, T0 + j % 60).allowed:
                        n += 1
                allowed[i] = n

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(sum(allowed), 1000)
            self.assertEqual(ml.status(Level.DOMAIN, "d.example", Window.HOUR, T0 + 60).count,
                             1000)
            self.assertEqual(ml.status(Level.DOMAIN, "d.example", Window.HOUR,
                                       T0 + HOUR + 60).count, 0)


if __name__ == "__main__":
    unittest.main()
