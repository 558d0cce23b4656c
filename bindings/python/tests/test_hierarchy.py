# SPDX-License-Identifier: MIT
"""plan_add, subscription_add, domain_add, mailbox_add, sysuser_add, remove,
sysuser_remove, domain_move, subscription_plan_set: placements and their errors."""
import unittest

from maillimit import (DEFAULT, UNLIMITED, Exists, InvalidArgument, Level, NotFound, Window,
                       ErrorCode)
from helpers import T0, LimiterTest

M, D, S, P = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN
H = Window.HOUR


class TestAdd(LimiterTest):
    def test_readding_with_the_same_placement_is_a_no_op(self):
        ml = self.ml
        ml.plan_add("BASIC")
        ml.subscription_add("Acme", "Basic")
        ml.domain_add("ACME.example", "acme")
        ml.mailbox_add("CEO@Acme.Example")
        ml.sysuser_add("ACME_WEB", "ACME")
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example"), UNLIMITED)

    def test_another_placement_is_exists(self):
        ml = self.ml
        e = self.assertRaisesCode(Exists, ErrorCode.EEXISTS, ml.subscription_add, "acme", None)
        self.assertEqual(e.function, "maillimit_subscription_add")
        self.assertEqual(e.message, "already exists elsewhere")
        self.assertEqual(str(e), "maillimit_subscription_add('acme', None): already exists "
                                 "elsewhere")
        self.assertRaisesCode(Exists, -4, ml.domain_add, "acme.example", "other")
        self.assertRaisesCode(Exists, -4, ml.sysuser_add, "acme_web", "other")

    def test_a_missing_parent_is_not_found(self):
        ml = self.ml
        self.assertRaisesCode(NotFound, -3, ml.subscription_add, "s2", "nosuch")
        self.assertRaisesCode(NotFound, -3, ml.domain_add, "x.example", "nosuch")
        self.assertRaisesCode(NotFound, -3, ml.mailbox_add, "a@unknown.example")
        self.assertRaisesCode(NotFound, -3, ml.sysuser_add, "u", "nosuch")
        e = self.assertRaisesCode(NotFound, -3, ml.domain_add, "x.example", "nosuch")
        self.assertIsInstance(e, LookupError)

    def test_bad_names_are_invalid_arguments(self):
        ml = self.ml
        for bad in ("", "a b", "tab\there", "ctl\x01", "x" * 321):
            with self.subTest(name=bad):
                e = self.assertRaisesCode(InvalidArgument, -1, ml.plan_add, bad)
                self.assertIsInstance(e, ValueError)
        ml.plan_add("x" * 320)  # the longest name
        self.assertRaisesCode(InvalidArgument, -1, ml.mailbox_add, "no-at-sign.example")
        self.assertRaisesCode(InvalidArgument, -1, ml.mailbox_add, "a@b@acme.example")

    def test_a_nul_in_a_name_is_refused_by_the_binding(self):
        # C would see "ceo@acme.example" and act on another entity: the binding refuses.
        e = self.assertRaisesCode(InvalidArgument, -1, self.ml.mailbox_add,
                                  "ceo@acme.example\0x")
        self.assertIn("contains a NUL byte", str(e))

    def test_names_must_be_text_or_bytes(self):
        with self.assertRaises(TypeError):
            self.ml.plan_add(42)

    def test_bytes_names_and_non_ascii_bytes(self):
        ml = self.ml
        ml.domain_add(b"b\xc3\xbccher.example", b"acme")
        ml.mailbox_add("j\u00fcrgen@b\u00fccher.example")  # the same domain, as text
        ml.limit_set(M, b"j\xc3\xbcrgen@b\xc3\xbccher.example", M, H, 7)
        self.assertEqual(ml.limit_effective(M, "j\u00fcrgen@B\u00fcCHER.example"), 7)
        # Bytes >= 0x80 are compared as they are: upper-case U-umlaut is another name.
        self.assertRaisesCode(NotFound, -3, ml.limit_effective, M,
                              "j\u00fcrgen@b\u00dccher.example")


class TestRemoveAndMove(LimiterTest):
    def test_remove_takes_the_subtree(self):
        ml = self.ml
        ml.remove(S, "acme")
        self.assertRaisesCode(NotFound, -3, ml.limit_effective, D, "acme.example")
        self.assertRaisesCode(NotFound, -3, ml.limit_effective, M, "ceo@acme.example")
        self.assertRaisesCode(NotFound, -3, ml.sysuser_remove, "acme_web")  # went with it
        self.assertRaisesCode(NotFound, -3, ml.remove, S, "acme")

    def test_remove_a_mailbox_and_a_domain(self):
        ml = self.ml
        ml.remove(M, "CEO@acme.example")
        self.assertRaisesCode(NotFound, -3, ml.limit_effective, M, "ceo@acme.example")
        ml.remove(D, "acme.example")
        self.assertRaisesCode(NotFound, -3, ml.limit_effective, D, "acme.example")
        self.assertEqual(ml.limit_effective(S, "acme"), UNLIMITED)

    def test_removing_a_plan_detaches_its_subscriptions(self):
        ml = self.ml
        ml.limit_set(P, "basic", S, H, 50)
        self.assertEqual(ml.limit_effective(S, "acme"), 50)
        ml.remove(P, "basic")
        self.assertEqual(ml.limit_effective(S, "acme"), UNLIMITED)
        ml.plan_add("basic")  # it is gone: adding it again creates it anew
        self.assertEqual(ml.limit_configured(P, "basic", S, H), DEFAULT)

    def test_the_server_cannot_be_removed(self):
        self.assertRaisesCode(InvalidArgument, -1, self.ml.remove, Level.SERVER, None)
        self.assertRaisesCode(InvalidArgument, -1, self.ml.remove, 9, "acme")
        self.assertRaisesCode(InvalidArgument, -1, self.ml.remove, 1 << 40, "acme")

    def test_sysuser_remove(self):
        ml = self.ml
        ml.sysuser_remove("ACME_web")
        self.assertRaisesCode(NotFound, -3, ml.sysuser_remove, "acme_web")
        ml.sysuser_add("acme_web", "other")  # free to be placed elsewhere now

    def test_sysuser_move(self):
        ml = self.ml
        ml.decide(S, "acme_web", 1, T0)
        ml.sysuser_move("ACME_WEB", "other")
        ml.decide(S, "acme_web", 1, T0 + 1)
        self.assertEqual(ml.status(S, "acme", H, T0 + 2).count, 1)
        self.assertEqual(ml.status(S, "other", H, T0 + 2).count, 1)
        self.assertRaisesCode(NotFound, -3, ml.sysuser_move, "nobody", "acme")
        self.assertRaisesCode(NotFound, -3, ml.sysuser_move, "acme_web", "nosuch")
        self.assertRaisesCode(InvalidArgument, -1, ml.sysuser_move, "a b", "acme")

    def test_domain_move_keeps_counts_and_changes_the_parent(self):
        ml = self.ml
        ml.limit_set(S, "other", S, H, 2)
        ml.decide(M, "ceo@acme.example", 1, T0)
        ml.domain_move("acme.example", "other")
        self.assertEqual(ml.status(D, "acme.example", H, T0 + 1).count, 1)
        self.assertEqual(ml.status(S, "acme", H, T0 + 1).count, 1)   # stays in the old one
        self.assertEqual(ml.status(S, "other", H, T0 + 1).count, 0)  # counts from the move on
        self.assertEqual(ml.decide(M, "ceo@acme.example", 1, T0 + 2).count, 1)
        self.assertEqual(ml.status(S, "other", H, T0 + 3).count, 1)
        self.assertEqual(ml.status(S, "acme", H, T0 + 3).count, 1)
        self.assertRaisesCode(NotFound, -3, ml.domain_move, "acme.example", "nosuch")
        self.assertRaisesCode(NotFound, -3, ml.domain_move, "nosuch.example", "acme")

    def test_subscription_plan_set(self):
        ml = self.ml
        ml.plan_add("pro")
        ml.limit_set(P, "basic", M, H, 50)
        ml.limit_set(P, "pro", M, H, 500)
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example"), 50)
        ml.subscription_plan_set("acme", "pro")
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example"), 500)
        ml.subscription_plan_set("acme", None)
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example"), UNLIMITED)
        self.assertRaisesCode(NotFound, -3, ml.subscription_plan_set, "acme", "nosuch")
        self.assertRaisesCode(NotFound, -3, ml.subscription_plan_set, "nosuch", "pro")


if __name__ == "__main__":
    unittest.main()
