# SPDX-License-Identifier: MIT
"""limit_set, limit_configured, limit_effective, enabled_set, enabled_get, flag_set, flag_effective,
flag_configured, unit_set, unit_get."""
import unittest

from maillimit import (DEFAULT, UNLIMITED, ErrorCode, Flag, InvalidArgument, Level, NotFound,
                       RangeError, Unit, Window)
from helpers import LimiterTest

M, D, S, P, SRV = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN, Level.SERVER
H, DAYW = Window.HOUR, Window.DAY
CEO = "ceo@acme.example"


class TestLimits(LimiterTest):
    def test_everything_is_unlimited_by_default(self):
        ml = self.ml
        for level, name in ((SRV, None), (S, "acme"), (D, "acme.example"), (M, CEO)):
            for window in (H, DAYW):
                self.assertEqual(ml.limit_effective(level, name, window), UNLIMITED)
        self.assertEqual(ml.limit_configured(SRV, None, M, H), UNLIMITED)
        self.assertEqual(ml.limit_configured(D, "acme.example", M, H), DEFAULT)

    def test_inheritance_walks_up_to_the_nearest_value(self):
        ml = self.ml
        ml.limit_set(SRV, None, M, H, 100)
        self.assertEqual(ml.limit_effective(M, CEO, H), 100)
        ml.limit_set(P, "basic", M, H, 50)
        self.assertEqual(ml.limit_effective(M, CEO, H), 50)
        ml.limit_set(S, "acme", M, H, 40)
        self.assertEqual(ml.limit_effective(M, CEO, H), 40)
        ml.limit_set(D, "acme.example", M, H, 30)
        self.assertEqual(ml.limit_effective(M, CEO, H), 30)
        ml.limit_set(M, CEO, M, H, 20)
        self.assertEqual(ml.limit_effective(M, CEO, H), 20)
        self.assertEqual(ml.limit_effective(M, CEO, DAYW), UNLIMITED)  # windows are separate
        ml.limit_set(M, CEO, M, H, DEFAULT)
        self.assertEqual(ml.limit_effective(M, CEO, H), 30)
        ml.limit_set(D, "acme.example", M, H, UNLIMITED)
        self.assertEqual(ml.limit_effective(M, CEO, H), UNLIMITED)
        self.assertEqual(ml.limit_configured(D, "acme.example", M, H), UNLIMITED)
        self.assertEqual(ml.limit_configured(M, CEO, M, H), DEFAULT)
        self.assertEqual(ml.limit_configured(P, "basic", M, H), 50)
        self.assertEqual(ml.limit_configured(SRV, None, M, H), 100)

    def test_each_level_and_the_server_total(self):
        ml = self.ml
        ml.limit_set(SRV, None, SRV, H, 1000)
        ml.limit_set(SRV, None, SRV, DAYW, 20000)
        ml.limit_set(P, "basic", S, DAYW, 900)
        ml.limit_set(S, "acme", D, H, 300)
        ml.limit_set(D, "acme.example", D, DAYW, 0)
        self.assertEqual(ml.limit_effective(SRV, None, H), 1000)
        self.assertEqual(ml.limit_effective(SRV, None, DAYW), 20000)
        self.assertEqual(ml.limit_effective(S, "acme", DAYW), 900)
        self.assertEqual(ml.limit_effective(S, "other", DAYW), UNLIMITED)
        self.assertEqual(ml.limit_effective(D, "acme.example", H), 300)
        self.assertEqual(ml.limit_effective(D, "acme.example", DAYW), 0)

    def test_targets_a_level_may_not_set(self):
        ml = self.ml
        for args in ((SRV, None, P, H, 1), (P, "basic", SRV, H, 1), (S, "acme", SRV, H, 1),
                     (D, "acme.example", S, H, 1), (M, CEO, D, H, 1)):
            with self.subTest(args=args):
                self.assertRaisesCode(InvalidArgument, -1, ml.limit_set, *args)
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_configured, M, CEO, D, H)

    def test_bad_values_windows_and_entities(self):
        ml = self.ml
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_set, SRV, None, M, H, DEFAULT)
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_set, D, "acme.example", M, H, -3)
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_set, D, "acme.example", M, 2, 5)
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_effective, P, "basic", H)  # no counter
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_effective, D, "acme.example", -1)
        self.assertRaisesCode(NotFound, -3, ml.limit_set, D, "nosuch.example", M, H, 5)
        self.assertRaisesCode(NotFound, -3, ml.limit_effective, M, "nobody@acme.example", H)
        self.assertRaisesCode(NotFound, -3, ml.limit_configured, P, "nosuch", M, H)
        # Values that do not fit int64_t are refused before C could see them truncated.
        e = self.assertRaisesCode(RangeError, ErrorCode.ERANGE, ml.limit_set, D,
                                  "acme.example", M, H, 1 << 64)
        self.assertIn("does not fit int64_t", str(e))
        self.assertRaisesCode(InvalidArgument, -1, ml.limit_set, D, "acme.example", M,
                              (1 << 32) + Window.HOUR, 5)
        with self.assertRaises(TypeError):
            ml.limit_set(D, "acme.example", M, H, 2.5)
        self.assertEqual(ml.limit_effective(M, CEO, H), UNLIMITED)  # nothing changed


class TestFlagsAndSwitches(LimiterTest):
    def test_sendmail_defaults_on_and_inherits(self):
        ml = self.ml
        self.assertIs(ml.flag_effective(SRV, None, Flag.SENDMAIL), True)
        self.assertIs(ml.flag_effective(S, "acme", Flag.SENDMAIL), True)
        self.assertEqual(ml.flag_configured(S, "acme", Flag.SENDMAIL), DEFAULT)
        ml.flag_set(P, "basic", Flag.SENDMAIL, False)
        self.assertIs(ml.flag_effective(S, "acme", Flag.SENDMAIL), False)
        self.assertIs(ml.flag_effective(S, "other", Flag.SENDMAIL), True)
        self.assertEqual(ml.flag_configured(P, "basic", Flag.SENDMAIL), 0)
        ml.flag_set(S, "acme", Flag.SENDMAIL, True)
        self.assertIs(ml.flag_effective(S, "acme", Flag.SENDMAIL), True)
        self.assertEqual(ml.flag_configured(S, "acme", Flag.SENDMAIL), 1)
        ml.flag_set(S, "acme", Flag.SENDMAIL, DEFAULT)
        self.assertIs(ml.flag_effective(S, "acme", Flag.SENDMAIL), False)
        ml.flag_set(SRV, None, Flag.SENDMAIL, 0)
        self.assertIs(ml.flag_effective(S, "other", Flag.SENDMAIL), False)
        self.assertEqual(ml.flag_configured(SRV, None, Flag.SENDMAIL), 0)

    def test_exempt_inherits_and_an_explicit_zero_wins(self):
        ml = self.ml
        self.assertIs(ml.flag_effective(M, CEO, Flag.EXEMPT), False)
        ml.flag_set(D, "acme.example", Flag.EXEMPT, True)
        self.assertIs(ml.flag_effective(M, CEO, Flag.EXEMPT), True)
        self.assertEqual(ml.flag_configured(M, CEO, Flag.EXEMPT), DEFAULT)
        ml.flag_set(M, CEO, Flag.EXEMPT, False)
        self.assertIs(ml.flag_effective(M, CEO, Flag.EXEMPT), False)
        self.assertEqual(ml.flag_configured(M, CEO, Flag.EXEMPT), 0)

    def test_flags_where_they_do_not_live(self):
        ml = self.ml
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_set, SRV, None, Flag.EXEMPT, 1)
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_set, D, "acme.example",
                              Flag.SENDMAIL, 1)
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_set, SRV, None, Flag.SENDMAIL,
                              DEFAULT)
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_set, S, "acme", Flag.SENDMAIL, 2)
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_set, S, "acme", 7, 1)
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_effective, SRV, None, Flag.EXEMPT)
        self.assertRaisesCode(InvalidArgument, -1, ml.flag_configured, M, CEO, Flag.SENDMAIL)
        self.assertRaisesCode(NotFound, -3, ml.flag_effective, S, "nosuch", Flag.SENDMAIL)

    def test_master_switch(self):
        ml = self.ml
        self.assertIs(ml.enabled_get(), True)
        ml.enabled_set(False)
        self.assertIs(ml.enabled_get(), False)
        ml.enabled_set()
        self.assertIs(ml.enabled_get(), True)

    def test_unit(self):
        ml = self.ml
        self.assertIs(ml.unit_get(), Unit.MESSAGES)
        ml.unit_set(Unit.RECIPIENTS)
        self.assertIs(ml.unit_get(), Unit.RECIPIENTS)
        self.assertRaisesCode(InvalidArgument, -1, ml.unit_set, 2)
        self.assertIs(ml.unit_get(), Unit.RECIPIENTS)


if __name__ == "__main__":
    unittest.main()
