# SPDX-License-Identifier: MIT
"""One interface, two implementations: every test here runs against the in-process
Limiter and against a Client of a live maillimitd (started by the test), with the same
exact expectations: the same results and the same exceptions."""
import unittest

from maillimit import (DEFAULT, LIST_SYSUSER, UNLIMITED, Client, Decision, Entity,
                       EntityDetails, Episode, ErrorCode, Event, EventType, Exists, Flag,
                       HistoryRow, InvalidArgument, Level, Limiter, MaillimitAPI, Metric,
                       NotFound, RangeError, Reason, Status, Summary, TopRow, Unit, Verdict,
                       Window)

from daemon import Daemon

T = 1700000000 // 3600 * 3600  # 2023-11-14 22:00:00 UTC, the start of an hour
M, D, S, P = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN
HOUR, DAY = Window.HOUR, Window.DAY


def build(ml):
    """plan basic (mailbox 2/hour); subscriptions acme (in basic) and beta; domains
    a.example, b.example (acme), c.example (beta); mailboxes; a system user."""
    ml.plan_add("basic")
    ml.subscription_add("acme", "basic")
    ml.subscription_add("beta")
    ml.domain_add("b.example", "acme")
    ml.domain_add("a.example", "acme")
    ml.domain_add("c.example", "beta")
    for m in ("zed@a.example", "ann@a.example", "bob@b.example", "cy@c.example"):
        ml.mailbox_add(m)
    ml.sysuser_add("acme_web", "acme")
    ml.limit_set(P, "basic", M, HOUR, 2)


class Contract:
    """The tests; subclasses say how to make the handle."""

    def make(self) -> MaillimitAPI:
        raise NotImplementedError

    def setUp(self):
        self.ml = self.make()
        self.addCleanup(self.ml.close)

    def test_is_the_interface(self):
        self.assertIsInstance(self.ml, MaillimitAPI)

    def test_hierarchy_listing_and_generation(self):
        ml = self.ml
        g0 = ml.generation()
        build(ml)
        self.assertEqual(ml.generation(), g0 + 11)
        self.assertEqual(ml.list(M), [
            Entity(M, "ann@a.example", "a.example", False),
            Entity(M, "bob@b.example", "b.example", False),
            Entity(M, "cy@c.example", "c.example", False),
            Entity(M, "zed@a.example", "a.example", False)])
        self.assertEqual([e.name for e in ml.list(M, S, "acme")],
                         ["ann@a.example", "bob@b.example", "zed@a.example"])
        self.assertEqual(ml.list(D, P, "basic"), [Entity(D, "a.example", "acme", False),
                                                  Entity(D, "b.example", "acme", False)])
        self.assertEqual(ml.list(S), [Entity(S, "acme", "basic", False),
                                      Entity(S, "beta", "", False)])
        self.assertEqual(ml.list(LIST_SYSUSER), [Entity(LIST_SYSUSER, "acme_web", "acme",
                                                        False)])
        with ml.list_open(M, D, "a.example") as it:
            self.assertEqual(it.count(), 2)
            self.assertEqual(next(it).name, "ann@a.example")
        # moves and removals
        ml.domain_move("b.example", "beta")
        ml.subscription_plan_set("beta", "basic")
        ml.sysuser_move("acme_web", "beta")
        self.assertEqual(ml.list(D, S, "beta"), [Entity(D, "b.example", "beta", False),
                                                 Entity(D, "c.example", "beta", False)])
        ml.sysuser_remove("acme_web")
        ml.remove(M, "zed@a.example")
        self.assertEqual(ml.list(LIST_SYSUSER), [])
        self.assertEqual(len(ml.list(M)), 3)
        self.assertEqual(ml.generation(), g0 + 16)

    def test_a_page_with_limits_flags_and_status(self):
        ml = self.ml
        build(ml)
        ml.limit_set(M, "zed@a.example", M, HOUR, 5)
        ml.limit_set(M, "zed@a.example", M, DAY, UNLIMITED)
        ml.flag_set(M, "bob@b.example", Flag.EXEMPT, True)
        for _ in range(2):
            ml.decide(M, "ann@a.example", 1, T + 40)
        page = ml.list_page(M, S, "acme", now=T + 100)
        self.assertEqual((page.generation, page.total, page.offset), (ml.generation(), 3, 0))
        ann, bob, zed = page.entities
        self.assertEqual(ann, EntityDetails(
            M, "ann@a.example", "a.example", False,
            {(M, HOUR): DEFAULT, (M, DAY): DEFAULT}, {Flag.EXEMPT: DEFAULT},
            Status(False, M, 2, 2, 0, 3500, 3500)))
        self.assertEqual(bob.flags, {Flag.EXEMPT: 1})
        self.assertEqual(bob.status, Status(True, None, 0, 2, 2, 0, 0))
        self.assertEqual(zed.limits, {(M, HOUR): 5, (M, DAY): UNLIMITED})
        self.assertEqual(zed.status.limit, 5)
        self.assertEqual(zed.entity, Entity(M, "zed@a.example", "a.example", False))
        # pages
        page = ml.list_page(M, offset=1, count=2, now=T + 100)
        self.assertEqual(page.total, 4)
        self.assertEqual([e.name for e in page.entities], ["bob@b.example", "cy@c.example"])
        self.assertEqual(ml.list_page(M, offset=9, count=2).entities, [])
        # what other levels set
        sub = ml.list_page(S, count=1, now=T + 100).entities[0]
        self.assertEqual(sorted(sub.limits), [(S, HOUR), (S, DAY), (D, HOUR), (D, DAY),
                                              (M, HOUR), (M, DAY)])
        self.assertEqual(sub.flags, {Flag.SENDMAIL: DEFAULT, Flag.EXEMPT: DEFAULT})
        self.assertEqual(sub.status.count, 2)
        plan = ml.list_page(P).entities[0]
        self.assertEqual(plan.limits[M, HOUR], 2)
        self.assertIsNone(plan.status)
        su = ml.list_page(LIST_SYSUSER).entities[0]
        self.assertEqual((su.level, su.limits, su.flags, su.status), (LIST_SYSUSER, {}, {}, None))

    def test_status_of_many(self):
        ml = self.ml
        build(ml)
        for _ in range(3):
            ml.decide(M, "ann@a.example", 1, T + 40)
        self.assertEqual(ml.status_many([(M, "ann@a.example"), (D, "a.example"),
                                         (Level.SERVER, None)], HOUR, T + 100), [
            Status(False, M, 2, 2, 0, 3500, 3500),
            Status(True, None, 2, UNLIMITED, UNLIMITED, 0, 3500),
            Status(True, None, 2, UNLIMITED, UNLIMITED, 0, 3500)])
        with self.assertRaises(NotFound) as cm:
            ml.status_many([(M, "ann@a.example"), (M, "nosuch@a.example")], HOUR, T)
        self.assertEqual(cm.exception.code, ErrorCode.ENOTFOUND)

    def test_decide_status_reset_limits(self):
        ml = self.ml
        build(ml)
        self.assertEqual(ml.limit_configured(M, "ann@a.example", M, HOUR), DEFAULT)
        self.assertEqual(ml.limit_effective(M, "ann@a.example"), 2)
        self.assertEqual(ml.limit_effective(M, "ann@a.example", DAY), UNLIMITED)
        v = ml.decide(M, "ann@a.example", 1, T + 40)
        self.assertEqual(v, Verdict(Decision.ALLOW, Reason.NONE, None, None, 2, 0, 0, 1 << 63))
        ml.decide(M, "ann@a.example", 1, T + 40)
        v = ml.decide(M, "ann@a.example", 1, T + 40)
        self.assertEqual(v, Verdict(Decision.DENY, Reason.LIMIT, M, HOUR, 2, 2, 3560, 0))
        self.assertEqual(ml.status(M, "ann@a.example", HOUR, T + 40),
                         Status(False, M, 2, 2, 0, 3560, 3560))
        ml.reset(M, "ann@a.example")
        self.assertTrue(ml.status_get(M, "ann@a.example", HOUR, T + 40).sending)
        # unknown sender: allowed, reason UNKNOWN
        v = ml.decide(D, "nosuch.example", 1, T + 40)
        self.assertEqual((v.decision, v.reason), (Decision.ALLOW, Reason.UNKNOWN))
        ml.limit_set(Level.SERVER, None, Level.SERVER, DAY, 100000)
        self.assertEqual(ml.limit_effective(Level.SERVER, None, DAY), 100000)

    def test_flags_switch_unit_retention(self):
        ml = self.ml
        build(ml)
        ml.flag_set(S, "acme", Flag.SENDMAIL, False)
        self.assertEqual((ml.flag_effective(S, "acme", Flag.SENDMAIL),
                          ml.flag_configured(S, "acme", Flag.SENDMAIL)), (False, 0))
        v = ml.decide(S, "acme_web", 1, T)
        self.assertEqual((v.decision, v.reason, v.retry_after),
                         (Decision.DENY, Reason.NOT_ALLOWED, -1))
        ml.flag_set(S, "acme", Flag.SENDMAIL, DEFAULT)
        self.assertEqual((ml.flag_effective(S, "acme", Flag.SENDMAIL),
                          ml.flag_configured(S, "acme", Flag.SENDMAIL)), (True, DEFAULT))
        ml.enabled_set(False)
        self.assertFalse(ml.enabled_get())
        self.assertEqual(ml.decide(M, "ann@a.example", 1, T).reason, Reason.DISABLED)
        ml.enabled_set()
        self.assertTrue(ml.enabled_get())
        ml.unit_set(Unit.RECIPIENTS)
        self.assertEqual(ml.unit_get(), Unit.RECIPIENTS)
        ml.retention_set(48)
        self.assertEqual(ml.retention_get(), 48)

    def test_reports(self):
        ml = self.ml
        build(ml)
        ml.limit_set(D, "c.example", D, HOUR, 2)
        for _ in range(3):
            ml.decide(D, "c.example", 1, T + 60)
        ml.decide(M, "ann@a.example", 1, T + 60)
        self.assertEqual(ml.history(D, "c.example", T, T + 3600, T + 120),
                         [HistoryRow(T, 2, 1, 0)])
        self.assertEqual(ml.history_open(D, "c.example", T, T + 3600, T + 120).to_list(),
                         [HistoryRow(T, 2, 1, 0)])
        self.assertEqual(ml.episodes(Level.SERVER, None, T, T + 3600, T + 120),
                         [Episode(D, "c.example", HOUR, True, T + 60, T + 3660, 2, 1)])
        self.assertEqual(ml.top(D, Metric.SENT, T, T + 3600, 5, now=T + 120),
                         [TopRow(D, "c.example", 2, 1, 0), TopRow(D, "a.example", 1, 0, 0)])
        self.assertEqual(ml.top(M, Metric.DENIED, T, T + 3600, 5, S, "acme", T + 120),
                         [TopRow(M, "ann@a.example", 1, 0, 0)])
        self.assertEqual(ml.top(M, Metric.SENT, T, T + 3600, 0, now=T + 120), [])
        self.assertEqual(ml.summary(Level.SERVER, None, T, T + 3600, T + 120),
                         Summary(3, 1, 0, 0, 1))
        self.assertEqual(ml.summary_get(S, "beta", T, T + 3600, T + 120),
                         Summary(2, 1, 0, 0, 1))
        # events: the limit edge, then (the clock is long past) back to normal
        evs = list(ml.events())
        self.assertEqual(evs, [
            Event(EventType.LIMIT_REACHED, D, "c.example", HOUR, T + 60, 2, 0, 1),
            Event(EventType.BACK_TO_NORMAL, D, "c.example", HOUR, T + 3660, 2, 1, 2)])
        self.assertIsNone(ml.events_next())

    def test_errors_are_the_same(self):
        ml = self.ml
        build(ml)
        cases = [
            (NotFound, ErrorCode.ENOTFOUND,
             lambda: ml.limit_set(M, "nosuch@x.example", M, HOUR, 5)),
            (NotFound, ErrorCode.ENOTFOUND, lambda: ml.domain_add("x.example", "nosuch")),
            (NotFound, ErrorCode.ENOTFOUND, lambda: ml.list(M, D, "nosuch.example")),
            (NotFound, ErrorCode.ENOTFOUND, lambda: ml.remove(D, "nosuch.example")),
            (Exists, ErrorCode.EEXISTS, lambda: ml.domain_add("a.example", "beta")),
            (InvalidArgument, ErrorCode.EINVAL, lambda: ml.status(9, "x")),
            (InvalidArgument, ErrorCode.EINVAL, lambda: ml.status(M, "x@a.example", 7)),
            (InvalidArgument, ErrorCode.EINVAL, lambda: ml.mailbox_add("nobody")),
            (InvalidArgument, ErrorCode.EINVAL, lambda: ml.mailbox_add("a\0b@a.example")),
            (InvalidArgument, ErrorCode.EINVAL,
             lambda: ml.limit_set(D, "a.example", S, HOUR, 5)),
            (InvalidArgument, ErrorCode.EINVAL,
             lambda: ml.limit_set(D, "a.example", D, HOUR, -3)),
            (InvalidArgument, ErrorCode.EINVAL,
             lambda: ml.limit_set(Level.SERVER, None, M, HOUR, DEFAULT)),
            (InvalidArgument, ErrorCode.EINVAL,
             lambda: ml.flag_set(D, "a.example", Flag.SENDMAIL, 0)),
            (InvalidArgument, ErrorCode.EINVAL, lambda: ml.flag_set(D, "a.example", 5, 0)),
            (InvalidArgument, ErrorCode.EINVAL, lambda: ml.list(Level.SERVER)),
            (RangeError, ErrorCode.ERANGE, lambda: ml.decide(M, "ann@a.example", 0, T)),
            (RangeError, ErrorCode.ERANGE, lambda: ml.limit_set(D, "a.example", D, HOUR,
                                                               1 << 63)),
        ]
        for cls, code, fn in cases:
            with self.subTest(cls=cls.__name__, code=code):
                with self.assertRaises(cls) as cm:
                    fn()
                self.assertEqual(cm.exception.code, code)
        self.assertTrue(issubclass(NotFound, LookupError))

    def test_names_that_are_not_utf8(self):
        ml = self.ml
        build(ml)
        ml.domain_add(b"caf\xe9.example", "acme")
        ml.mailbox_add(b"j\xf6@caf\xe9.example")
        names = [e.name for e in ml.list(M, D, b"caf\xe9.example")]
        self.assertEqual(names, ["j\udcf6@caf\udce9.example"])
        # the str comes back to the same bytes
        self.assertEqual(ml.limit_effective(M, names[0]), 2)


class InProcess(Contract, unittest.TestCase):
    def make(self):
        return Limiter()


class Remote(Contract, unittest.TestCase):
    def make(self):
        self.daemon = Daemon()
        self.daemon.start()
        self.addCleanup(self.daemon.close)
        return Client(self.daemon.socket, timeout=10)


if __name__ == "__main__":
    unittest.main()
