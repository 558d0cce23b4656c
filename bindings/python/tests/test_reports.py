# SPDX-License-Identifier: MIT
"""tick, retention_set/get, history_open/next/close, episodes_open/next/close, top,
summary_init/get, event_init, events_next, events_dropped: one scripted hour of traffic."""
import unittest

from maillimit import (UNLIMITED, Episode, Event, EventType, Flag, HistoryRow, InvalidArgument,
                       Level, Limiter, Metric, NotFound, Summary, TopRow, Window)
from helpers import HOUR, T0, LimiterTest

M, D, S, P, SRV = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN, Level.SERVER
H = Window.HOUR
CEO = "ceo@acme.example"
NOW = T0 + 2 * HOUR
FROM, TO = T0 - HOUR, T0 + 3 * HOUR


class TestReports(LimiterTest):
    def setUp(self):
        super().setUp()
        ml = self.ml
        ml.domain_add("other.example", "other")
        ml.mailbox_add("news@acme.example")
        ml.flag_set(M, "news@acme.example", Flag.EXEMPT, 1)
        ml.mailbox_add("blocked@acme.example")
        ml.limit_set(M, "blocked@acme.example", M, H, 0)
        ml.limit_set(D, "acme.example", M, H, 3)
        # Hour T0: ceo sends 3 and is denied twice (episode from T0+180 to T0+3600);
        # b@other.example sends 2, an unknown sender 1, the exempt news@ 2, and
        # blocked@ (limit 0) is denied once (an episode that never ends by itself).
        for t in (0, 60, 120, 180, 240):
            ml.decide(M, CEO, 1, T0 + t)
        ml.decide(M, "b@other.example", 1, T0 + 10)
        ml.decide(M, "b@other.example", 1, T0 + 70)
        ml.decide(M, "x@nowhere.example", 1, T0 + 20)
        ml.decide(M, "news@acme.example", 2, T0 + 30)
        ml.decide(M, "blocked@acme.example", 1, T0 + 300)
        # Hour T0+1h: ceo sends 1 (minutes 1 and 2 are still in the window: 2 + 1 <= 3).
        self.assertTrue(ml.decide(M, CEO, 1, T0 + HOUR + 60).allowed)

    def test_history(self):
        ml = self.ml
        self.assertEqual(ml.history(M, CEO, FROM, TO, NOW),
                         [HistoryRow(T0, 3, 2, 0), HistoryRow(T0 + HOUR, 1, 0, 0)])
        self.assertEqual(ml.history(D, "acme.example", FROM, TO, NOW),
                         [HistoryRow(T0, 3, 3, 2), HistoryRow(T0 + HOUR, 1, 0, 0)])
        self.assertEqual(ml.history(P, "basic", FROM, TO, NOW),
                         ml.history(S, "acme", FROM, TO, NOW))
        self.assertEqual(ml.history(SRV, None, FROM, TO, NOW),
                         [HistoryRow(T0, 6, 3, 2), HistoryRow(T0 + HOUR, 1, 0, 0)])
        self.assertEqual(ml.history(M, CEO, T0 + HOUR, TO, NOW), [HistoryRow(T0 + HOUR, 1, 0, 0)])
        self.assertEqual(ml.history(S, "other", T0 + HOUR, TO, NOW), [])

    def test_history_iterator(self):
        ml = self.ml
        it = ml.history_open(M, CEO, FROM, TO, NOW)
        self.assertIs(iter(it), it)
        self.assertEqual(next(it), HistoryRow(T0, 3, 2, 0))
        self.assertFalse(it.closed)
        it.close()
        self.assertTrue(it.closed)
        self.assertEqual(list(it), [])
        it.close()  # idempotent
        with ml.history_open(M, CEO, FROM, TO, NOW) as it2:
            self.assertEqual(len(list(it2)), 2)
            self.assertTrue(it2.closed)  # closed when exhausted
        with self.assertRaises(InvalidArgument):
            with it2:
                pass

    def test_history_errors(self):
        ml = self.ml
        self.assertRaisesCode(NotFound, -3, ml.history_open, P, "nosuch", FROM, TO, NOW)
        self.assertRaisesCode(NotFound, -3, ml.history, M, "nobody@acme.example", FROM, TO, NOW)
        self.assertRaisesCode(InvalidArgument, -1, ml.history_open, 9, "acme", FROM, TO, NOW)

    def test_episodes(self):
        ml = self.ml
        ceo = Episode(M, CEO, H, False, T0 + 180, T0 + HOUR, 3, 2)
        blocked = Episode(M, "blocked@acme.example", H, True, T0 + 300, -1, 0, 1)
        self.assertEqual(ml.episodes(SRV, None, FROM, TO, NOW), [ceo, blocked])
        self.assertEqual(ml.episodes(D, "acme.example", FROM, TO, NOW), [ceo, blocked])
        self.assertEqual(ml.episodes(M, CEO, FROM, TO, NOW), [ceo])
        self.assertEqual(ml.episodes(S, "other", FROM, TO, NOW), [])
        self.assertEqual(ml.episodes(M, CEO, T0 + HOUR + 1, TO, NOW), [])  # ended at T0+1h
        with ml.episodes_open(M, "blocked@acme.example", FROM, TO, NOW) as it:
            self.assertEqual(next(it), blocked)
            with self.assertRaises(StopIteration):
                next(it)
        self.assertRaisesCode(NotFound, -3, ml.episodes_open, D, "nosuch.example", FROM, TO,
                              NOW)

    def test_top(self):
        ml = self.ml
        ceo = TopRow(M, CEO, 4, 2, 0)
        b = TopRow(M, "b@other.example", 2, 0, 0)
        blocked = TopRow(M, "blocked@acme.example", 0, 1, 0)
        news = TopRow(M, "news@acme.example", 0, 0, 2)
        # Ties on the metric go to the other metric, then the name.
        self.assertEqual(ml.top(M, Metric.SENT, T0, NOW, 10, now=NOW), [ceo, b, blocked, news])
        self.assertEqual(ml.top(M, Metric.DENIED, T0, NOW, 2, now=NOW), [ceo, blocked])
        self.assertEqual(ml.top(M, Metric.SENT, T0, NOW, 10, S, "other", NOW), [b])
        self.assertEqual(ml.top(M, Metric.SENT, T0, NOW, 10, D, "acme.example", NOW),
                         [ceo, blocked, news])
        self.assertEqual(ml.top(D, Metric.SENT, T0, NOW, 10, now=NOW),
                         [TopRow(D, "acme.example", 4, 3, 2), TopRow(D, "other.example", 2, 0, 0)])
        self.assertEqual(ml.top(P, Metric.SENT, T0, NOW, 10, now=NOW),
                         [TopRow(P, "basic", 4, 3, 2)])
        self.assertEqual(ml.top(M, Metric.SENT, T0, NOW, 0, now=NOW), [])
        self.assertRaisesCode(InvalidArgument, -1, ml.top, SRV, Metric.SENT, T0, NOW, 10)
        self.assertRaisesCode(InvalidArgument, -1, ml.top, M, 7, T0, NOW, 10)
        self.assertRaisesCode(InvalidArgument, -1, ml.top, M, Metric.SENT, T0, NOW, -1)
        self.assertRaisesCode(NotFound, -3, ml.top, M, Metric.SENT, T0, NOW, 10, S, "nosuch",
                              NOW)

    def test_summary(self):
        ml = self.ml
        self.assertEqual(ml.summary(SRV, None, T0, NOW, NOW), Summary(6, 3, 2, 1, 2))
        self.assertEqual(ml.summary_get(D, "acme.example", T0, NOW, NOW), Summary(4, 3, 2, 0, 2))
        self.assertEqual(ml.summary(S, "other", T0, NOW, NOW), Summary(2, 0, 0, 0, 0))
        # (Hours starting in [from, to): the second hour alone. Its limited_entities are
        # left out: ceo's episode ended exactly at its start, an edge issue 3 decides.)
        self.assertEqual(ml.summary(SRV, None, T0 + HOUR, NOW, NOW).sent, 1)
        self.assertRaisesCode(InvalidArgument, -1, ml.summary, M, CEO, T0, NOW, NOW)
        self.assertRaisesCode(NotFound, -3, ml.summary, S, "nosuch", T0, NOW, NOW)

    def test_events(self):
        ml = self.ml
        self.assertEqual(list(ml.events(NOW)), [
            Event(EventType.LIMIT_REACHED, M, CEO, H, T0 + 180, 3, 0, 1),
            Event(EventType.LIMIT_REACHED, M, "blocked@acme.example", H, T0 + 300, 0, 0, 2),
            Event(EventType.BACK_TO_NORMAL, M, CEO, H, T0 + HOUR, 3, 2, 3),
        ])
        self.assertIsNone(ml.events_next(NOW))
        self.assertEqual(ml.events_dropped(), 0)

    def test_tick_and_retention(self):
        ml = self.ml
        self.assertEqual(ml.retention_get(), 744)
        ml.retention_set(48)
        self.assertEqual(ml.retention_get(), 48)
        self.assertRaisesCode(InvalidArgument, -1, ml.retention_set, 0)
        self.assertRaisesCode(InvalidArgument, -1, ml.retention_set, 87601)
        self.assertEqual(ml.retention_get(), 48)
        ml.tick(NOW)
        self.assertRaisesCode(InvalidArgument, -1, ml.tick, -1)
        ml.tick(T0 + 60 * HOUR)  # hour T0 is now older than 48 hours
        self.assertEqual(ml.history(M, CEO, FROM, TO, T0 + 60 * HOUR), [])

    def test_a_full_event_queue_drops_the_oldest(self):
        ml = self.ml
        list(ml.events(NOW))
        ml.limit_set(D, "acme.example", M, H, 0)
        for i in range(4100):  # implicit mailboxes, each denied once: 4100 LIMIT_REACHED
            ml.decide(M, f"u{i}@acme.example", 1, NOW)
            if i % 500 == 499:
                ml.tick(NOW)  # as a daemon does: edges move from deciders to the queue
        ml.tick(NOW)
        self.assertEqual(ml.events_dropped(), 4)
        first = ml.events_next(NOW)
        self.assertEqual((first.type, first.name, first.seq),
                         (EventType.LIMIT_REACHED, "u4@acme.example", 8))
        self.assertEqual(sum(1 for _ in ml.events(NOW)), 4095)


class TestReportsLifecycle(unittest.TestCase):
    def test_closing_the_limiter_closes_its_iterators(self):
        ml = Limiter()
        ml.subscription_add("s")
        ml.decide(S, "s", 1, T0)
        it = ml.history_open(S, "s", T0, T0 + HOUR, T0 + 1)
        it2 = ml.episodes_open(SRV, None, T0, T0 + HOUR, T0 + 1)
        ml.close()
        self.assertTrue(it.closed and it2.closed)
        self.assertEqual(list(it), [])
        with self.assertRaises(InvalidArgument):
            ml.events_next(T0)

    def test_an_unreferenced_iterator_is_freed(self):
        with Limiter() as ml:
            ml.subscription_add("s")
            for _ in range(100):
                ml.history_open(S, "s", T0, T0 + HOUR, T0 + 1)  # dropped at once
            self.assertEqual(len(ml._children), 0)


if __name__ == "__main__":
    unittest.main()
