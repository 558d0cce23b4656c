# SPDX-License-Identifier: MIT
"""What only the Client has: the daemon's messages, reconnecting, timeouts, lost
connections, and one request per page (against a live maillimitd started by each test)."""
import os
import socket
import tempfile
import threading
import unittest

from maillimit import (Client, DaemonTimeout, DaemonUnavailable, ErrorCode, FileError,
                       FormatError, InvalidArgument, Level, NotFound, Window, default_socket)

from daemon import Daemon

T = 1700000000 // 3600 * 3600
M, D, S = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION


class LiveDaemon(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon("subscription acme\ndomain x.example subscription=acme\n")
        self.addCleanup(self.daemon.close)
        self.daemon.start()
        self.ml = Client(self.daemon.socket, timeout=10)
        self.addCleanup(self.ml.close)

    def test_errors_carry_the_daemons_message(self):
        with self.assertRaises(NotFound) as cm:
            self.ml.limit_set(M, "nosuch@x.example", M, Window.HOUR, 5)
        e = cm.exception
        self.assertEqual((e.code, e.function, e.message, e.detail),
                         (ErrorCode.ENOTFOUND, "limit.set", "not found",
                          "mailbox nosuch@x.example: not found"))
        self.assertEqual(str(e), "limit.set: mailbox nosuch@x.example: not found")
        with self.assertRaises(NotFound) as cm:
            self.ml.domain_add("y.example", "nosuch")
        self.assertEqual(str(cm.exception), "entity.add: subscription nosuch: not found")

    def test_reconnects_after_a_daemon_restart(self):
        self.ml.mailbox_add("a@x.example")
        self.assertEqual(self.ml.status(M, "a@x.example", Window.HOUR, T).count, 0)
        self.daemon.restart()  # no state file: the new daemon knows only its configuration
        self.assertEqual([e.name for e in self.ml.list(D)], ["x.example"])
        self.assertEqual(self.ml.list(M), [])
        self.ml.mailbox_add("b@x.example")
        self.assertEqual([e.name for e in self.ml.list(M)], ["b@x.example"])

    def test_daemon_down(self):
        self.daemon.stop()
        with self.assertRaises(DaemonUnavailable) as cm:
            self.ml.ping()
        e = cm.exception
        self.assertEqual(e.code, ErrorCode.EIO)
        self.assertIsInstance(e, ConnectionError)
        self.assertIsInstance(e, FileError)
        self.assertTrue(e.detail.startswith(f"cannot connect to {self.daemon.socket}: "), e)
        self.daemon.start()
        self.assertTrue(self.ml.ping())

    def test_timeout_then_the_next_call_gets_its_own_answer(self):
        c = Client(self.daemon.socket, timeout=0.3)
        self.addCleanup(c.close)
        self.assertTrue(c.ping())
        self.daemon.pause()  # SIGSTOP: connected, never answers
        try:
            with self.assertRaises(DaemonTimeout) as cm:
                c.limit_effective(D, "x.example")
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertEqual(cm.exception.code, ErrorCode.EIO)
            self.assertEqual(cm.exception.detail,
                             f"no answer from {self.daemon.socket} within 0.3 s")
        finally:
            self.daemon.resume()
        # the late answer to limit.get went to the closed connection, not to this call
        self.assertEqual(c.version()["number"], 10000)
        self.assertEqual(c.limit_effective(D, "x.example"), -1)

    def test_connection_lost_while_waiting(self):
        # a server that takes the request and closes: the request may have run, so the
        # client reports it instead of sending it again
        path = os.path.join(tempfile.mkdtemp(prefix="maillimit-fake-"), "s")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(1)
        got = []

        def serve():
            conn, _ = srv.accept()
            got.append(conn.recv(4096))
            conn.close()

        th = threading.Thread(target=serve)
        th.start()
        c = Client(path, timeout=5)
        try:
            with self.assertRaises(DaemonUnavailable) as cm:
                c.reset(M, "a@x.example")
            self.assertEqual(cm.exception.detail,
                             f"connection to {path} lost: closed by maillimitd")
        finally:
            th.join()
            c.close()
            srv.close()
            os.unlink(path)
            os.rmdir(os.path.dirname(path))
        self.assertEqual(len(got), 1)

    def test_a_page_of_50_mailboxes_with_status_is_one_request(self):
        for i in range(120):
            self.ml.mailbox_add(f"u{i:03d}@x.example")
        self.ml.decide(M, "u101@x.example", 3, T + 10)
        before = self.ml.stats()["admin_requests"]
        page = self.ml.list_page(M, S, "acme", offset=100, count=50, now=T + 20)
        after = self.ml.stats()["admin_requests"]
        self.assertEqual(after - before, 2)  # the first stats itself, and the page
        self.assertEqual((page.total, page.offset, len(page.entities)), (120, 100, 20))
        self.assertEqual(page.entities[0].name, "u100@x.example")
        self.assertEqual(page.entities[1].status.count, 3)
        self.assertEqual(page.entities[1].status.reset_after, 3600 - 20)
        # a whole listing reads in pages of one generation
        self.assertEqual(len(self.ml.list(M)), 120)

    def test_daemon_calls(self):
        self.assertTrue(self.ml.ping())
        self.assertEqual(self.ml.version()["library"], "1.0.0")
        self.ml.config_reload()
        with open(self.daemon.config, "a") as f:
            f.write("bogus 1\n")
        with self.assertRaises(FormatError) as cm:
            self.ml.config_reload()
        self.assertTrue(cm.exception.detail.startswith(self.daemon.config + ":7: unknown directive \"bogus\""),
                        cm.exception.detail)
        with self.assertRaises(InvalidArgument) as cm:
            self.ml.snapshot()  # state_file none: nothing to save to
        self.assertEqual(str(cm.exception), "snapshot.save: invalid argument: no state_file "
                                            "configured")
        self.assertEqual(self.ml.call("ping"), "pong")

    def test_closed_client(self):
        self.ml.close()
        self.ml.close()
        self.assertTrue(self.ml.closed)
        with self.assertRaises(ValueError):
            self.ml.ping()

    def test_default_socket(self):
        os.environ["MAILLIMITCTL_SOCKET"] = self.daemon.socket
        try:
            self.assertEqual(default_socket(), self.daemon.socket)
            with Client() as c:
                self.assertTrue(c.ping())
        finally:
            del os.environ["MAILLIMITCTL_SOCKET"]


if __name__ == "__main__":
    unittest.main()
