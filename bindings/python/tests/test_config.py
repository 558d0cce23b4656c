# SPDX-License-Identifier: MIT
"""config_load, config_load_mem, config_apply and config_apply_mem: the text format, and
errors that change nothing."""
import os
import tempfile
import unittest

from maillimit import (DEFAULT, UNLIMITED, FileError, Flag, FormatError, Level, Limiter,
                       NotFound, Unit, Window)
from helpers import LimiterTest

M, D, S, P, SRV = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION, Level.PLAN, Level.SERVER
H, DAYW = Window.HOUR, Window.DAY

SPEC_EXAMPLE = """\
enable yes
unit recipients                    # or messages
server mailbox=100 domain=500 subscription=1000 server.day=unlimited
plan basic mailbox=50 domain=200 subscription=400 sendmail=yes
subscription acme plan=basic subscription=unlimited
domain acme.example subscription=acme domain=300 mailbox.day=2000
mailbox ceo@acme.example mailbox=20
mailbox news@acme.example exempt=yes
sysuser acme_web subscription=acme
"""


class TestConfig(unittest.TestCase):
    def setUp(self):
        self.ml = Limiter()
        self.addCleanup(self.ml.close)

    def check_spec_example(self):
        ml = self.ml
        self.assertIs(ml.enabled_get(), True)
        self.assertIs(ml.unit_get(), Unit.RECIPIENTS)
        self.assertEqual(ml.limit_configured(SRV, None, M, H), 100)
        self.assertEqual(ml.limit_effective(SRV, None, DAYW), UNLIMITED)
        self.assertEqual(ml.limit_configured(P, "basic", M, H), 50)
        self.assertEqual(ml.limit_effective(S, "acme", H), UNLIMITED)
        self.assertEqual(ml.limit_effective(D, "acme.example", H), 300)
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example", H), 20)
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example", DAYW), 2000)
        self.assertEqual(ml.limit_effective(M, "news@acme.example", H), 50)
        self.assertIs(ml.flag_effective(M, "news@acme.example", Flag.EXEMPT), True)
        self.assertEqual(ml.flag_configured(P, "basic", Flag.SENDMAIL), 1)
        ml.sysuser_remove("acme_web")  # it exists

    def test_load_mem_spec_example(self):
        self.ml.config_load_mem(SPEC_EXAMPLE)
        self.check_spec_example()

    def test_load_mem_passes_the_length_not_a_terminator(self):
        # A NUL inside the text reaches the parser (C would stop at it if the binding
        # passed a string): it is a format error on line 2.
        with self.assertRaises(FormatError) as cm:
            self.ml.config_load_mem(b"plan a\nplan b\x00c\n")
        self.assertEqual(cm.exception.detail, "<memory>:2: NUL byte in the line")
        self.ml.config_load_mem(SPEC_EXAMPLE.encode())
        self.check_spec_example()

    def test_load_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "panel.conf")
            with open(path, "w") as f:
                f.write(SPEC_EXAMPLE)
            self.ml.config_load(path)
        self.check_spec_example()

    def test_a_format_error_names_the_line_and_changes_nothing(self):
        text = "plan basic mailbox=50\nmailbox ceo@acme.example mailbox=abc\n"
        with self.assertRaises(FormatError) as cm:
            self.ml.config_load_mem(text)
        e = cm.exception
        self.assertEqual(e.code, -7)
        self.assertEqual(e.message, "malformed input")
        self.assertEqual(e.detail, '<memory>:2: bad value "abc" for key "mailbox" '
                                   '(expected a number, "unlimited" or "default")')
        self.assertEqual(str(e), "maillimit_config_load_mem: malformed input: " + e.detail)
        self.assertIsInstance(e, ValueError)
        with self.assertRaises(NotFound):
            self.ml.limit_configured(P, "basic", M, H)  # the plan of line 1 was not created

    def test_a_file_error_names_the_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.conf")
            with open(path, "w") as f:
                f.write("enable maybe\n")
            with self.assertRaises(FormatError) as cm:
                self.ml.config_load(path)
            self.assertTrue(cm.exception.detail.startswith(path + ":1: "), cm.exception.detail)
            missing = os.path.join(d, "missing.conf")
            with self.assertRaises(FileError) as cm:
                self.ml.config_load(missing)
            self.assertEqual(cm.exception.code, -6)
            self.assertIsInstance(cm.exception, OSError)
            self.assertIn(missing, cm.exception.detail)


class TestConfigApply(unittest.TestCase):
    FIRST = ("server mailbox=100\nplan basic mailbox=50\nsubscription acme plan=basic\n"
             "subscription old\ndomain acme.example subscription=acme mailbox=30\n"
             "mailbox ceo@acme.example mailbox=20\nsysuser acme_web subscription=acme\n")
    SECOND = ("plan basic\nsubscription acme plan=basic\n"
              "domain acme.example subscription=acme\n")

    def setUp(self):
        self.ml = Limiter()
        self.addCleanup(self.ml.close)
        self.ml.config_load_mem(self.FIRST)
        self.ml.decide(M, "ceo@acme.example", 3, 1704103200)
        self.ml.decide(M, "implicit@acme.example", 1, 1704103200)

    def check_applied(self):
        ml = self.ml
        # Values the file does not set are back to their defaults...
        self.assertEqual(ml.limit_configured(SRV, None, M, H), UNLIMITED)
        self.assertEqual(ml.limit_configured(P, "basic", M, H), DEFAULT)
        self.assertEqual(ml.limit_configured(D, "acme.example", M, H), DEFAULT)
        # ...entities it does not define are gone (implicit mailboxes stay)...
        for call in (lambda: ml.limit_effective(M, "ceo@acme.example"),
                     lambda: ml.limit_effective(S, "old"), lambda: ml.sysuser_remove("acme_web")):
            with self.assertRaises(NotFound):
                call()
        # ...and the counters of those that remain are kept.
        self.assertEqual(ml.status(D, "acme.example", H, 1704103201).count, 4)
        self.assertEqual(ml.status(M, "implicit@acme.example", H, 1704103201).count, 1)

    def test_apply_mem(self):
        self.ml.config_apply_mem(self.SECOND)
        self.check_applied()

    def test_apply_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "panel.conf")
            with open(path, "w") as f:
                f.write(self.SECOND)
            self.ml.config_apply(path)
        self.check_applied()

    def test_an_error_changes_nothing(self):
        ml = self.ml
        with self.assertRaises(FormatError) as cm:
            ml.config_apply_mem("domain x.example subscription=nosuch\n")
        self.assertEqual(cm.exception.detail, '<memory>:1: domain "x.example": subscription '
                                              '"nosuch" does not exist')
        self.assertEqual(cm.exception.function, "maillimit_config_apply_mem")
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example"), 20)
        self.assertEqual(ml.limit_configured(SRV, None, M, H), 100)
        with self.assertRaises(FileError):
            ml.config_apply("/nonexistent/panel.conf")
        self.assertEqual(ml.limit_effective(S, "old"), UNLIMITED)


class TestConfigOnAHierarchy(LimiterTest):
    def test_reload_keeps_counters(self):
        ml = self.ml
        ml.decide(M, "ceo@acme.example", 3, 1704103200)
        ml.config_load_mem("domain acme.example subscription=other mailbox=5\n")
        self.assertEqual(ml.status(M, "ceo@acme.example", H, 1704103201).count, 3)
        self.assertEqual(ml.limit_effective(M, "ceo@acme.example", H), 5)
        self.assertEqual(ml.status(S, "other", H, 1704103201).count, 0)  # moved, not counted


if __name__ == "__main__":
    unittest.main()
