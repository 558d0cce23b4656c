# SPDX-License-Identifier: MIT
"""list_open/list (maillimit_list_open, _next, _count, _close, maillimit_entity_init) and
generation (maillimit_generation): every listing hand-computed from the fixture below."""
import unittest

from maillimit import (ENTITY_VERSION, LIST_SYSUSER, Entity, EntityIterator, ErrorCode,
                       InvalidArgument, Level, Limiter, NotFound, Window, _native)
from helpers import T0, LimiterTest

M, D, S, P, SRV = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN, Level.SERVER
SU = LIST_SYSUSER


def E(level, name, parent, implicit=False):
    return Entity(level, name, parent, implicit)


class ListTest(LimiterTest):
    """The shared fixture (plan basic > acme > acme.example > ceo@acme.example, acme_web;
    other without a plan) plus plan pro > beta > beta.example > c@beta.example and
    beta_web; shop.example > s@shop.example and a@acme.example in acme; ACME_cron in acme.
    Added out of order and partly in upper case: listings are sorted and lower case."""

    def setUp(self):
        super().setUp()
        ml = self.ml
        ml.plan_add("PRO")
        ml.subscription_add("beta", "pro")
        ml.domain_add("shop.example", "acme")
        ml.domain_add("beta.example", "beta")
        ml.mailbox_add("s@shop.example")
        ml.mailbox_add("c@beta.example")
        ml.mailbox_add("A@acme.example")
        ml.sysuser_add("beta_web", "beta")
        ml.sysuser_add("ACME_cron", "acme")


class TestListing(ListTest):
    def test_every_level_sorted_with_parents(self):
        ml = self.ml
        self.assertEqual(ml.list(P), [E(P, "basic", ""), E(P, "pro", "")])
        self.assertEqual(ml.list(S), [E(S, "acme", "basic"), E(S, "beta", "pro"),
                                      E(S, "other", "")])
        self.assertEqual(ml.list(D), [E(D, "acme.example", "acme"),
                                      E(D, "beta.example", "beta"),
                                      E(D, "shop.example", "acme")])
        self.assertEqual(ml.list(M), [E(M, "a@acme.example", "acme.example"),
                                      E(M, "c@beta.example", "beta.example"),
                                      E(M, "ceo@acme.example", "acme.example"),
                                      E(M, "s@shop.example", "shop.example")])
        self.assertEqual(ml.list(SU), [E(SU, "acme_cron", "acme"), E(SU, "acme_web", "acme"),
                                       E(SU, "beta_web", "beta")])

    def test_levels_are_enums_and_system_users_the_plain_constant(self):
        ml = self.ml
        self.assertIs(ml.list(D)[0].level, Level.DOMAIN)
        su = ml.list(SU)[0]
        self.assertEqual(su.level, 5)
        self.assertIs(type(su.level), int)
        self.assertEqual(LIST_SYSUSER, 5)
        self.assertEqual(ENTITY_VERSION, 1)
        self.assertIsInstance(su.name, str)
        self.assertIs(ml.list(P)[0].implicit, False)

    def test_scoped_by_subscription_domain_and_plan(self):
        ml = self.ml
        self.assertEqual(ml.list(D, S, "ACME"), [E(D, "acme.example", "acme"),
                                                 E(D, "shop.example", "acme")])
        self.assertEqual(ml.list(M, D, "acme.example"),
                         [E(M, "a@acme.example", "acme.example"),
                          E(M, "ceo@acme.example", "acme.example")])
        self.assertEqual(ml.list(M, S, "beta"), [E(M, "c@beta.example", "beta.example")])
        self.assertEqual(ml.list(M, P, "basic"), [E(M, "a@acme.example", "acme.example"),
                                                  E(M, "ceo@acme.example", "acme.example"),
                                                  E(M, "s@shop.example", "shop.example")])
        self.assertEqual(ml.list(S, P, "pro"), [E(S, "beta", "pro")])
        self.assertEqual(ml.list(SU, S, "acme"), [E(SU, "acme_cron", "acme"),
                                                  E(SU, "acme_web", "acme")])
        self.assertEqual(ml.list(SU, P, "pro"), [E(SU, "beta_web", "beta")])
        self.assertEqual(ml.list(D, S, "other"), [])
        self.assertEqual(ml.list(SU, S, "other"), [])
        self.assertEqual(ml.list(S, D, "beta.example"), [])  # a domain holds no subscription
        self.assertEqual(ml.list(P, SRV, None), ml.list(P))
        # keywords, as a panel would write them
        self.assertEqual(ml.list(M, scope_level=D, scope_name="shop.example"),
                         [E(M, "s@shop.example", "shop.example")])

    def test_implicit_mailboxes_only_when_asked(self):
        ml = self.ml
        self.assertTrue(ml.decide(M, "New@beta.example", 1, T0).allowed)
        self.assertEqual(ml.list(M, D, "beta.example"),
                         [E(M, "c@beta.example", "beta.example")])
        self.assertEqual(ml.list(M, D, "beta.example", implicit=True),
                         [E(M, "c@beta.example", "beta.example"),
                          E(M, "new@beta.example", "beta.example", True)])
        self.assertEqual(len(ml.list(M)), 4)
        self.assertEqual(len(ml.list(M, implicit=True)), 5)
        # configuring it makes it explicit
        ml.mailbox_add("new@beta.example")
        self.assertEqual(ml.list(M, D, "beta.example"),
                         [E(M, "c@beta.example", "beta.example"),
                          E(M, "new@beta.example", "beta.example")])

    def test_removed_and_moved_entities(self):
        ml = self.ml
        ml.remove(D, "acme.example")
        ml.domain_move("beta.example", "acme")
        ml.sysuser_move("beta_web", "other")
        ml.remove(P, "basic")
        self.assertEqual(ml.list(S), [E(S, "acme", ""), E(S, "beta", "pro"),
                                      E(S, "other", "")])
        self.assertEqual(ml.list(D), [E(D, "beta.example", "acme"),
                                      E(D, "shop.example", "acme")])
        self.assertEqual(ml.list(M), [E(M, "c@beta.example", "beta.example"),
                                      E(M, "s@shop.example", "shop.example")])
        self.assertEqual(ml.list(SU, S, "other"), [E(SU, "beta_web", "other")])
        self.assertEqual(ml.list(M, P, "pro"), [])

    def test_non_ascii_names_sort_bytewise(self):
        ml = self.ml
        ml.domain_add(b"b\xc3\xbccher.example", "other")
        self.assertEqual(ml.list(D, S, "other"), [E(D, "b\u00fccher.example", "other")])
        # 'e' (0x65) < 0xc3 < 's': between beta.example and shop.example
        self.assertEqual([e.name for e in ml.list(D)],
                         ["acme.example", "beta.example", "b\u00fccher.example",
                          "shop.example"])
        self.assertEqual(ml.list(D, S, b"other"), ml.list(D, S, "other"))


class TestIterator(ListTest):
    def test_iterate_count_and_close(self):
        ml = self.ml
        it = ml.list_open(D)
        self.assertIsInstance(it, EntityIterator)
        self.assertIs(iter(it), it)
        self.assertEqual(it.count(), 3)
        self.assertEqual(next(it), E(D, "acme.example", "acme"))
        self.assertEqual(it.count(), 3)  # those already read included
        self.assertFalse(it.closed)
        it.close()
        self.assertTrue(it.closed)
        self.assertEqual(list(it), [])
        self.assertEqual(it.count(), 3)
        it.close()  # idempotent
        with ml.list_open(SU, S, "beta") as it2:
            self.assertEqual(it2.count(), 1)
            self.assertEqual(list(it2), [E(SU, "beta_web", "beta")])
            self.assertTrue(it2.closed)  # closed when exhausted
        with self.assertRaises(InvalidArgument):
            with it2:
                pass
        self.assertEqual(ml.list_open(S, P, "pro", implicit=True).count(), 1)
        empty = ml.list_open(SU, S, "other")
        self.assertEqual(empty.count(), 0)
        self.assertEqual(list(empty), [])
        self.assertTrue(empty.closed)

    def test_the_iterator_is_a_copy(self):
        ml = self.ml
        it = ml.list_open(D)
        ml.remove(S, "acme")
        ml.domain_add("new.example", "other")
        self.assertEqual(it.to_list(), [E(D, "acme.example", "acme"),
                                        E(D, "beta.example", "beta"),
                                        E(D, "shop.example", "acme")])
        self.assertTrue(it.closed)
        self.assertEqual(ml.list(D), [E(D, "beta.example", "beta"),
                                      E(D, "new.example", "other")])

    def test_closing_the_limiter_closes_its_iterators(self):
        ml = Limiter()
        ml.plan_add("p")
        it = ml.list_open(P)
        ml.close()
        self.assertTrue(it.closed)
        self.assertEqual(list(it), [])
        self.assertEqual(it.count(), 1)

    def test_list_closes_the_c_iterator(self):
        # Every maillimit_list_open() that succeeds is matched by one maillimit_list_close(),
        # whether list() reads to the end or the iterator is closed early.
        import maillimit.limiter as limiter_module
        real = limiter_module.function
        closed = []

        def counting(name):
            fn = real(name)
            if name != "maillimit_list_close":
                return fn
            return lambda ptr: (closed.append(ptr.value), fn(ptr))[1]

        limiter_module.function = counting
        self.addCleanup(setattr, limiter_module, "function", real)
        ml = self.ml
        self.assertEqual(len(ml.list(M, implicit=True)), 4)
        self.assertEqual(len(closed), 1)
        self.assertEqual(ml.list(SU, S, "other"), [])
        self.assertEqual(len(closed), 2)
        it = ml.list_open(D)
        next(it)
        it.close()
        it.close()
        self.assertEqual(len(closed), 3)
        self.assertRaisesCode(NotFound, -3, ml.list, D, S, "nosuch")  # nothing opened
        self.assertEqual(len(closed), 3)
        self.assertNotIn(0, closed)  # never NULL: a real iterator each time

    def test_entity_rows_are_initialised(self):
        # maillimit_list_next() refuses a row that maillimit_entity_init() did not set.
        row = _native.EntityC()
        self.assertEqual(_native.lib.maillimit_entity_init(row, ENTITY_VERSION), 0)
        self.assertEqual(row.version, ENTITY_VERSION)
        self.assertEqual((row.level, row.implicit, row.name, row.parent), (-1, 0, b"", b""))
        # A version this library does not know (a newer binding's layout) is refused.
        other = _native.EntityC()
        for version in (0, ENTITY_VERSION + 1):
            self.assertEqual(_native.lib.maillimit_entity_init(other, version),
                             ErrorCode.EVERSION)
            self.assertEqual(other.version, 0)


class TestErrors(ListTest):
    def test_bad_levels_are_invalid_arguments(self):
        ml = self.ml
        for level in (SRV, 6, -1):
            with self.subTest(level=level):
                e = self.assertRaisesCode(InvalidArgument, ErrorCode.EINVAL, ml.list, level)
                self.assertEqual(e.function, "maillimit_list_open")
                self.assertIsInstance(e, ValueError)
        e = self.assertRaisesCode(InvalidArgument, -1, ml.list, 1 << 40)  # the binding refuses
        self.assertIsNone(e.function)
        e = self.assertRaisesCode(InvalidArgument, -1, ml.list_open, SU, S, "a b")
        self.assertEqual(str(e), "maillimit_list_open(LIST_SYSUSER, SUBSCRIPTION, 'a b', "
                                 "implicit=False): invalid argument")

    def test_bad_scopes_are_invalid_arguments(self):
        ml = self.ml
        bad = [(SRV, "acme"),             # a name with the server scope
               (S, None),                 # a subtree without its name
               (M, "ceo@acme.example"),   # not a scope level
               (9, "acme"),               # no level at all
               (S, "bad name")]           # not a valid name
        for scope_level, scope_name in bad:
            with self.subTest(scope=(scope_level, scope_name)):
                self.assertRaisesCode(InvalidArgument, -1, ml.list, D, scope_level,
                                      scope_name)
        e = self.assertRaisesCode(InvalidArgument, -1, ml.list, D, S, "acme\0x")
        self.assertIn("contains a NUL byte", str(e))
        with self.assertRaises(TypeError):
            ml.list(D, S, 42)

    def test_an_unknown_scope_is_not_found(self):
        ml = self.ml
        e = self.assertRaisesCode(NotFound, ErrorCode.ENOTFOUND, ml.list, D, S, "nosuch")
        self.assertEqual(str(e), "maillimit_list_open(DOMAIN, SUBSCRIPTION, 'nosuch', "
                                 "implicit=False): not found")
        self.assertIsInstance(e, LookupError)
        self.assertRaisesCode(NotFound, -3, ml.list_open, M, D, "nosuch.example")
        self.assertRaisesCode(NotFound, -3, ml.list, S, P, "gold")
        # a removed entity is no scope
        ml.remove(D, "shop.example")
        self.assertRaisesCode(NotFound, -3, ml.list, M, D, "shop.example")

    def test_a_closed_limiter_refuses(self):
        ml = Limiter()
        ml.close()
        for call in (lambda: ml.list(P), lambda: ml.list_open(P), ml.generation):
            e = self.assertRaisesCode(InvalidArgument, -1, call)
            self.assertEqual(e.detail, "the limiter is closed")


class TestGeneration(ListTest):
    def test_grows_with_the_hierarchy_and_not_with_limits(self):
        ml = self.ml
        g0 = ml.generation()
        self.assertIsInstance(g0, int)
        self.assertEqual(ml.generation(), g0)  # reading changes nothing
        ml.domain_add("new.example", "other")
        g1 = ml.generation()
        self.assertGreater(g1, g0)
        ml.limit_set(D, "new.example", M, Window.HOUR, 5)
        ml.limit_set(SRV, None, M, Window.DAY, 100)
        self.assertEqual(ml.generation(), g1)
        ml.domain_add("NEW.example", "other")  # the same placement: a no-op
        self.assertEqual(ml.generation(), g1)
        ml.decide(M, "x@new.example", 1, T0)  # an implicit mailbox
        self.assertEqual(ml.generation(), g1)
        ml.mailbox_add("x@new.example")  # now configured
        g2 = ml.generation()
        self.assertGreater(g2, g1)
        ml.subscription_plan_set("other", "pro")
        g3 = ml.generation()
        self.assertGreater(g3, g2)
        ml.sysuser_remove("acme_web")
        g4 = ml.generation()
        self.assertGreater(g4, g3)
        ml.snapshot_load_mem(ml.snapshot_save_mem())
        self.assertGreater(ml.generation(), g4)

    def test_a_fresh_limiter_has_its_own_number(self):
        with Limiter() as a:
            g = a.generation()
            a.plan_add("p")
            self.assertGreater(a.generation(), g)


if __name__ == "__main__":
    unittest.main()
