# SPDX-License-Identifier: MIT
"""verdict_init, decide, decide_many, reserve, commit, release, reset, status_init,
status_get: exact verdicts and statuses with explicit times."""
import unittest

from maillimit import (COST_MAX, UNLIMITED, Decision, ErrorCode, Flag, InvalidArgument, Level,
                       NotFound, RangeError, Reason, Status, Verdict, Window)
from helpers import DAY, HOUR, T0, LimiterTest

M, D, S, P, SRV = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN, Level.SERVER
H, DAYW = Window.HOUR, Window.DAY
CEO = "ceo@acme.example"
DECIDED = 1 << 63  # the token of every maillimit_decide() verdict (already committed)


def allow(limit, count, reason=Reason.NONE, token=DECIDED):
    return Verdict(Decision.ALLOW, reason, None, None, limit, count, 0, token)


def deny(level, window, limit, count, retry_after, reason=Reason.LIMIT):
    return Verdict(Decision.DENY, reason, level, window, limit, count, retry_after, 0)


class TestDecide(LimiterTest):
    def test_mailbox_limit_then_the_window_slides(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 3)
        self.assertEqual(ml.decide(M, CEO, 1, T0), allow(3, 0))
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 60), allow(3, 1))
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 120), allow(3, 2))
        v = ml.decide(M, CEO, 1, T0 + 180)
        self.assertEqual(v, deny(M, H, 3, 3, HOUR - 180))
        self.assertTrue(v.denied)
        self.assertFalse(v.allowed)
        # The minute of T0 leaves the window at T0 + 3600: one slot frees up.
        self.assertEqual(ml.decide(M, CEO, 1, T0 + HOUR - 1), deny(M, H, 3, 3, 1))
        self.assertEqual(ml.decide(M, CEO, 1, T0 + HOUR), allow(3, 2))
        self.assertEqual(ml.decide(M, CEO, 1, T0 + HOUR + 1), deny(M, H, 3, 3, 59))

    def test_a_parent_at_its_limit_blocks_its_children(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", D, H, 2)
        ml.limit_set(D, "acme.example", M, H, 10)
        ml.mailbox_add("b@acme.example")
        self.assertTrue(ml.decide(M, CEO, 1, T0).allowed)
        self.assertTrue(ml.decide(M, "b@acme.example", 1, T0 + 1).allowed)
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 2), deny(D, H, 2, 2, HOUR - 2))

    def test_ties_go_to_the_higher_level_and_never_is_largest(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", D, H, 1)
        ml.limit_set(D, "acme.example", M, H, 1)
        ml.decide(M, CEO, 1, T0)
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 10), deny(D, H, 1, 1, HOUR - 10))
        ml.limit_set(M, CEO, M, H, 0)  # 0 blocks: "never" beats any number of seconds
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 20), deny(M, H, 0, 1, -1))

    def test_daily_window(self):
        ml = self.ml
        ml.limit_set(M, CEO, M, DAYW, 2)
        self.assertTrue(ml.decide(M, CEO, 1, T0).allowed)
        self.assertTrue(ml.decide(M, CEO, 1, T0 + HOUR).allowed)
        # The hour slot of T0 leaves the daily window at T0 + 24 h.
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 2 * HOUR), deny(M, DAYW, 2, 2, DAY - 2 * HOUR))
        self.assertEqual(ml.decide(M, CEO, 1, T0 + DAY), allow(UNLIMITED, 0))

    def test_cost_and_a_request_that_can_never_fit(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 10)
        self.assertEqual(ml.decide(M, CEO, 4, T0), allow(10, 0))
        self.assertEqual(ml.decide(M, CEO, 11, T0 + 1), deny(M, H, 10, 4, -1))
        self.assertEqual(ml.decide(M, CEO, 7, T0 + 2), deny(M, H, 10, 4, HOUR - 2))
        self.assertEqual(ml.decide(M, CEO, 6, T0 + 3), allow(10, 4))
        self.assertRaisesCode(RangeError, ErrorCode.ERANGE, ml.decide, M, CEO, 0, T0)
        self.assertRaisesCode(RangeError, -5, ml.decide, M, CEO, COST_MAX + 1, T0)
        self.assertRaisesCode(RangeError, -5, ml.decide, M, CEO, 1 << 64, T0)  # binding
        self.assertRaisesCode(InvalidArgument, -1, ml.decide, M, CEO, 1, -1)
        self.assertRaisesCode(InvalidArgument, -1, ml.decide, P, "basic", 1, T0)
        self.assertRaisesCode(InvalidArgument, -1, ml.decide, M, "not an address", 1, T0)

    def test_script_and_system_user_mail(self):
        ml = self.ml
        ml.limit_set(S, "acme", S, H, 2)
        self.assertEqual(ml.decide(D, "acme.example", 1, T0), allow(UNLIMITED, 0))
        self.assertEqual(ml.decide(S, "acme_web", 1, T0 + 1), allow(2, 1))
        self.assertEqual(ml.decide(S, "ACME", 1, T0 + 2), deny(S, H, 2, 2, HOUR - 2))
        self.assertEqual(ml.status(D, "acme.example", H, T0 + 3).count, 1)
        self.assertEqual(ml.status(S, "acme", H, T0 + 3).count, 2)
        self.assertEqual(ml.status(SRV, None, H, T0 + 3).count, 2)

    def test_reasons(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 1)
        ml.limit_set(SRV, None, SRV, H, 4)
        # Unknown domain: allowed, counted in the server total only (its only counter, so
        # limit and count are the server total's).
        self.assertEqual(ml.decide(M, "x@unknown.example", 1, T0),
                         allow(4, 0, Reason.UNKNOWN))
        # Exempt: allowed past its limit, counted in no limit.
        ml.mailbox_add("news@acme.example")
        ml.flag_set(M, "news@acme.example", Flag.EXEMPT, 1)
        for _ in range(3):
            self.assertEqual(ml.decide(M, "news@acme.example", 1, T0 + 1).reason, Reason.EXEMPT)
        self.assertEqual(ml.status(D, "acme.example", H, T0 + 1).count, 0)
        # Sendmail off: subscription-level senders are denied for good.
        ml.flag_set(S, "acme", Flag.SENDMAIL, 0)
        self.assertEqual(ml.decide(S, "acme_web", 1, T0 + 2),
                         Verdict(Decision.DENY, Reason.NOT_ALLOWED, S, None, UNLIMITED, 0, -1,
                                 0))
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 3), allow(1, 0))  # mailboxes unaffected
        # Switch off: allowed past the limit, and counted.
        ml.enabled_set(False)
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 4), allow(1, 1, Reason.DISABLED))
        self.assertEqual(ml.status(M, CEO, H, T0 + 5).count, 2)
        ml.enabled_set(True)
        # Server total: 3 of 4 counted (exempt and denied mail is not); then it is full and
        # even an unknown sender is denied by it, with reason LIMIT.
        self.assertEqual(ml.status(SRV, None, H, T0 + 5).count, 3)
        self.assertEqual(ml.decide(M, "x@unknown.example", 1, T0 + 6),
                         allow(4, 3, Reason.UNKNOWN))
        self.assertEqual(ml.decide(M, "x@unknown.example", 1, T0 + 7),
                         deny(SRV, H, 4, 4, HOUR - 7))

    def test_implicit_mailbox_exists_from_its_first_decision(self):
        ml = self.ml
        self.assertRaisesCode(NotFound, -3, ml.status, M, "new@acme.example", H, T0)
        self.assertEqual(ml.decide(M, "NEW@acme.example", 1, T0), allow(UNLIMITED, 0))
        self.assertEqual(ml.status(M, "new@acme.example", H, T0 + 1).count, 1)
        ml.mailbox_add("new@acme.example")  # becomes explicit, keeps its count
        self.assertEqual(ml.status(M, "new@acme.example", H, T0 + 1).count, 1)


class TestDecideMany(LimiterTest):
    def test_a_batch_decides_as_single_calls(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 3)
        reqs = [(M, CEO), (M, "new@acme.example", 2), (M, CEO), (D, "acme.example"),
                (M, CEO), (M, CEO), (S, "acme_web"), (M, "x@nowhere.example"),
                (M, "NEW@acme.example"), (M, "new@acme.example")]
        got = ml.decide_many(reqs, T0)
        self.assertEqual(len(got), len(reqs))
        twin = type(ml)()
        self.addCleanup(twin.close)
        twin.plan_add("basic")
        twin.subscription_add("acme", "basic")
        twin.subscription_add("other")
        twin.domain_add("acme.example", "acme")
        twin.mailbox_add(CEO)
        twin.sysuser_add("acme_web", "acme")
        twin.limit_set(D, "acme.example", M, H, 3)
        want = [twin.decide(r[0], r[1], r[2] if len(r) == 3 else 1, T0) for r in reqs]
        self.assertEqual(got, want)
        self.assertEqual(got[0], allow(3, 0))
        self.assertEqual(got[5], deny(M, H, 3, 3, HOUR))
        self.assertEqual(got[7].reason, Reason.UNKNOWN)
        # the implicit mailbox made by request 1 counts requests 8 and 9 (the second denied)
        self.assertEqual(got[8], allow(3, 2))
        self.assertEqual(got[9], deny(M, H, 3, 3, HOUR))
        self.assertEqual(ml.status_get(M, "new@acme.example", H, T0).count, 3)
        self.assertEqual(ml.decide_many([], T0), [])

    def test_a_bad_request_stops_the_batch(self):
        ml = self.ml
        reqs = [(M, CEO), (M, CEO), (M, "no-at-sign"), (M, CEO)]
        e = self.assertRaisesCode(InvalidArgument, ErrorCode.EINVAL, ml.decide_many, reqs, T0)
        self.assertEqual(e.index, 2)
        self.assertEqual(e.verdicts, [allow(-1, 0), allow(-1, 1)])
        self.assertEqual(ml.status_get(M, CEO, H, T0).count, 2)
        e = self.assertRaisesCode(RangeError, ErrorCode.ERANGE, ml.decide_many,
                                  [(M, CEO, 1), (M, CEO, 0)], T0)
        self.assertEqual(e.index, 1)
        self.assertEqual(ml.status_get(M, CEO, H, T0).count, 3)
        e = self.assertRaisesCode(InvalidArgument, ErrorCode.EINVAL, ml.decide_many,
                                  [(P, "basic")], T0)
        self.assertEqual((e.index, e.verdicts), (0, []))
        self.assertRaisesCode(InvalidArgument, ErrorCode.EINVAL, ml.decide_many, [(M, CEO)], -1)
        # refused by the binding: nothing decided
        self.assertRaisesCode(InvalidArgument, ErrorCode.EINVAL, ml.decide_many,
                              [(M, CEO), "ceo"], T0)
        self.assertRaisesCode(InvalidArgument, ErrorCode.EINVAL, ml.decide_many,
                              [(M, CEO), (M, "a\0b@acme.example")], T0)
        self.assertEqual(ml.status_get(M, CEO, H, T0).count, 3)

    def test_more_than_one_chunk(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 40)
        got = ml.decide_many([(M, CEO)] * 50, T0)
        self.assertEqual([v.allowed for v in got], [True] * 40 + [False] * 10)
        self.assertEqual([v.count for v in got], list(range(40)) + [40] * 10)


class TestTwoPhase(LimiterTest):
    def test_reserve_commit_release(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 2)
        a = ml.reserve(M, CEO, 1, T0)
        b = ml.reserve(M, CEO, 1, T0 + 1)
        self.assertTrue(a.allowed and b.allowed)
        self.assertNotIn(a.token, (0, DECIDED))
        self.assertNotEqual(a.token, b.token)
        self.assertEqual((a.count, b.count), (0, 1))
        self.assertEqual(ml.reserve(M, CEO, 1, T0 + 2), deny(M, H, 2, 2, HOUR - 2))
        ml.commit(a.token)
        ml.release(b.token)
        self.assertEqual(ml.status(M, CEO, H, T0 + 3).count, 1)
        self.assertRaisesCode(NotFound, -3, ml.commit, a.token)   # already committed
        self.assertRaisesCode(NotFound, -3, ml.release, a.token)
        self.assertRaisesCode(NotFound, -3, ml.release, b.token)  # already released
        self.assertRaisesCode(NotFound, -3, ml.commit, b.token)
        self.assertRaisesCode(NotFound, -3, ml.commit, DECIDED)   # a decide() token
        self.assertRaisesCode(NotFound, -3, ml.release, 123456789)
        self.assertRaisesCode(InvalidArgument, -1, ml.commit, 0)
        self.assertRaisesCode(InvalidArgument, -1, ml.release, 0)
        self.assertRaisesCode(InvalidArgument, -1, ml.commit, -1)        # binding: not uint64
        self.assertRaisesCode(InvalidArgument, -1, ml.release, 1 << 64)  # binding
        self.assertEqual(ml.status(M, CEO, H, T0 + 4).count, 1)

    def test_reserve_of_an_exempt_sender_gives_a_final_token(self):
        # The header: an exempt sender's mail is not counted, so reserve() returns the token
        # of a decision, which commit()/release() do not know (see the binding README).
        ml = self.ml
        ml.flag_set(M, CEO, Flag.EXEMPT, 1)
        v = ml.reserve(M, CEO, 1, T0)
        self.assertEqual(v, allow(UNLIMITED, 0, Reason.EXEMPT))
        self.assertRaisesCode(NotFound, -3, ml.commit, v.token)
        self.assertRaisesCode(NotFound, -3, ml.release, v.token)

    def test_release_gives_back_only_to_slots_still_in_their_window(self):
        ml = self.ml
        r = ml.reserve(M, CEO, 5, T0)
        ml.decide(M, CEO, 1, T0 + HOUR)
        ml.release(r.token)  # returns 0: the minute left the hour, its hour is still in the day
        self.assertEqual(ml.status(M, CEO, H, T0 + HOUR).count, 1)
        self.assertEqual(ml.status(M, CEO, DAYW, T0 + HOUR).count, 1)


class TestResetAndStatus(LimiterTest):
    def test_status_exact(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 3)
        ml.decide(M, CEO, 1, T0)
        ml.decide(M, CEO, 1, T0 + 60)
        self.assertEqual(ml.status(M, CEO, H, T0 + 120),
                         Status(True, None, 2, 3, 1, 0, HOUR + 60 - 120))
        self.assertEqual(ml.status_get(M, CEO, Window.DAY, T0 + 120),
                         Status(True, None, 2, UNLIMITED, UNLIMITED, 0, DAY - 120))
        ml.decide(M, CEO, 1, T0 + 120)
        self.assertEqual(ml.status(M, CEO, H, T0 + 180), Status(False, M, 3, 3, 0, HOUR - 180,
                                                                 HOUR + 120 - 180))
        self.assertEqual(ml.status(D, "acme.example", H, T0 + 180),
                         Status(True, None, 3, UNLIMITED, UNLIMITED, 0, HOUR + 120 - 180))
        self.assertEqual(ml.status(SRV, None, H, T0 + 180).count, 3)
        self.assertEqual(ml.status(M, CEO, H, T0 + 2 * HOUR),
                         Status(True, None, 0, 3, 3, 0, 0))

    def test_a_blocked_parent_shows_in_the_childs_status(self):
        ml = self.ml
        ml.limit_set(S, "acme", S, H, 1)
        ml.decide(S, "acme", 1, T0)
        self.assertEqual(ml.status(M, CEO, H, T0 + 10),
                         Status(False, S, 0, UNLIMITED, UNLIMITED, HOUR - 10, 0))

    def test_status_errors(self):
        ml = self.ml
        self.assertRaisesCode(InvalidArgument, -1, ml.status, P, "basic", H, T0)
        self.assertRaisesCode(InvalidArgument, -1, ml.status, M, CEO, 2, T0)
        self.assertRaisesCode(InvalidArgument, -1, ml.status, M, CEO, H, -5)
        self.assertRaisesCode(NotFound, -3, ml.status, D, "nosuch.example", H, T0)

    def test_reset_clears_only_the_entity(self):
        ml = self.ml
        ml.limit_set(D, "acme.example", M, H, 2)
        ml.decide(M, CEO, 2, T0)
        self.assertTrue(ml.decide(M, CEO, 1, T0 + 1).denied)
        ml.reset(M, "CEO@acme.example")
        self.assertEqual(ml.status(M, CEO, H, T0 + 2).count, 0)
        self.assertEqual(ml.status(M, CEO, DAYW, T0 + 2).count, 0)
        self.assertEqual(ml.status(D, "acme.example", H, T0 + 2).count, 2)
        self.assertEqual(ml.decide(M, CEO, 1, T0 + 3), allow(2, 0))
        ml.reset(SRV, None)
        self.assertEqual(ml.status(SRV, None, H, T0 + 4).count, 0)
        self.assertEqual(ml.status(S, "acme", H, T0 + 4).count, 3)
        self.assertRaisesCode(InvalidArgument, -1, ml.reset, P, "basic")
        self.assertRaisesCode(NotFound, -3, ml.reset, D, "nosuch.example")


if __name__ == "__main__":
    unittest.main()
