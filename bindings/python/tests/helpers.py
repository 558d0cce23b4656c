# SPDX-License-Identifier: MIT
"""Shared fixtures of the binding tests: an explicit clock and a small hierarchy."""
import os
import unittest

import maillimit
from maillimit import Level, Limiter, Window

#: 2024-01-01 10:00:00 UTC: a whole minute and a whole hour, so slot edges are easy to compute.
T0 = 1704103200
HOUR = 3600
DAY = 86400

#: include/maillimit.h of the source tree, when the tests run from it (None if not found).
HEADER = os.environ.get("MAILLIMIT_HEADER") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "maillimit.h"))
if not os.path.isfile(HEADER):
    HEADER = None


class LimiterTest(unittest.TestCase):
    """A fresh Limiter per test with plan basic > subscription acme > domain acme.example >
    mailbox ceo@acme.example, system user acme_web, and an empty subscription other."""

    def setUp(self):
        self.ml = Limiter()
        self.addCleanup(self.ml.close)
        ml = self.ml
        ml.plan_add("basic")
        ml.subscription_add("acme", "basic")
        ml.subscription_add("other")
        ml.domain_add("acme.example", "acme")
        ml.mailbox_add("ceo@acme.example")
        ml.sysuser_add("acme_web", "acme")

    def send(self, sender, n, now, level=Level.MAILBOX, cost=1):
        """Decide n times at `now` and return the list of verdicts."""
        return [self.ml.decide(level, sender, cost, now) for _ in range(n)]

    def assertRaisesCode(self, exc, code, fn, *args, **kw):
        with self.assertRaises(exc) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.code, code)
        self.assertIsInstance(cm.exception, maillimit.MaillimitError)
        return cm.exception
