# SPDX-License-Identifier: MIT
"""snapshot_save, snapshot_load, snapshot_save_mem, snapshot_load_mem, buffer_free: the whole
state survives a round trip; bad snapshots change nothing."""
import os
import stat
import tempfile
import unittest

from maillimit import (FileError, Flag, FormatError, Level, Limiter, NotFound, Status, Window,
                       _native)
from helpers import HOUR, T0, LimiterTest

M, D, S, SRV = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.SERVER
H, DAYW = Window.HOUR, Window.DAY
CEO = "ceo@acme.example"
MAGIC = b"\x89MLSNAP\n"  # docs/snapshot-format.md

class TestLibraryHasSnapshots(unittest.TestCase):
    def test_the_library_under_test_has_snapshots(self):
        self.assertTrue(_native.has("maillimit_snapshot_save"))


class TestSnapshot(LimiterTest):
    def setUp(self):
        super().setUp()
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 3)
        ml.limit_set(S, "acme", S, DAYW, 100)
        ml.flag_set(S, "acme", Flag.SENDMAIL, 0)
        ml.mailbox_add("news@acme.example")
        ml.flag_set(M, "news@acme.example", Flag.EXEMPT, 1)
        for t in (0, 60, 120, 180):
            ml.decide(M, CEO, 1, T0 + t)
        ml.decide(M, "implicit@acme.example", 2, T0 + 200)
        ml.enabled_set(False)
        self.reservation = ml.reserve(M, "implicit@acme.example", 1, T0 + 240)
        self.fresh = Limiter()
        self.addCleanup(self.fresh.close)

    def assertSameState(self, a, b, now):
        for level, name in ((M, CEO), (M, "implicit@acme.example"), (D, "acme.example"),
                            (S, "acme"), (SRV, None)):
            for window in (H, DAYW):
                self.assertEqual(a.status(level, name, window, now),
                                 b.status(level, name, window, now), (level, name, window))
        self.assertEqual(a.enabled_get(), b.enabled_get())
        self.assertEqual(a.flag_configured(S, "acme", Flag.SENDMAIL), 0)
        self.assertEqual(b.flag_configured(S, "acme", Flag.SENDMAIL), 0)
        self.assertEqual(b.flag_effective(M, "news@acme.example", Flag.EXEMPT), True)
        self.assertEqual(b.limit_configured(S, "acme", S, DAYW), 100)
        a.enabled_set(True)
        b.enabled_set(True)
        self.assertEqual(a.decide(M, CEO, 1, now), b.decide(M, CEO, 1, now))

    def test_round_trip_in_memory(self):
        data = self.ml.snapshot_save_mem()
        self.assertEqual(data[:8], MAGIC)
        self.fresh.snapshot_load_mem(data)
        # 3 of 3 sent (the 4th was denied), but the switch is off (saved too): sending.
        self.assertEqual(self.fresh.status(M, CEO, H, T0 + 300),
                         Status(True, None, 3, 3, 0, 0, HOUR + 120 - 300))
        self.assertSameState(self.ml, self.fresh, T0 + 300)
        self.assertEqual(self.fresh.snapshot_save_mem()[:8], MAGIC)

    def test_round_trip_through_a_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.snap")
            self.ml.snapshot_save(path)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), self.ml.snapshot_save_mem())
            self.fresh.snapshot_load(path)
            self.assertEqual(sorted(os.listdir(d)), ["state.snap"])  # no temporary left
        self.assertSameState(self.ml, self.fresh, T0 + 300)

    def test_a_load_forgets_outstanding_tokens(self):
        self.fresh.snapshot_load_mem(self.ml.snapshot_save_mem())
        self.assertRaisesCode(NotFound, -3, self.fresh.commit, self.reservation.token)
        self.assertEqual(self.fresh.status(M, "implicit@acme.example", H, T0 + 300).count, 3)

    def test_bad_snapshots_change_nothing(self):
        data = self.ml.snapshot_save_mem()
        fresh = self.fresh
        fresh.subscription_add("keep")
        for bad in (b"", data[:8], data[:-1], data[:-1] + bytes([data[-1] ^ 1]),
                    b"not a snapshot at all, just text"):
            with self.subTest(size=len(bad)):
                e = self.assertRaisesCode(FormatError, -7, fresh.snapshot_load_mem, bad)
                self.assertTrue(e.detail.startswith("<memory>: "), e.detail)
                self.assertEqual(e.function, "maillimit_snapshot_load_mem")
        self.assertEqual(fresh.limit_effective(S, "keep"), -1)
        self.assertRaisesCode(NotFound, -3, fresh.limit_effective, S, "acme")

    def test_file_errors(self):
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, "missing.snap")
            e = self.assertRaisesCode(NotFound, -3, self.fresh.snapshot_load, missing)
            self.assertTrue(e.detail.startswith(missing + ": "), e.detail)
            bad_dir = os.path.join(d, "no", "such", "dir", "x.snap")
            e = self.assertRaisesCode(FileError, -6, self.ml.snapshot_save, bad_dir)
            self.assertTrue(e.detail.startswith(bad_dir + ": "), e.detail)


if __name__ == "__main__":
    unittest.main()
