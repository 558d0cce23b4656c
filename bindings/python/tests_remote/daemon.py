# SPDX-License-Identifier: MIT
"""A maillimitd started by a test: private temporary directory, unix admin socket, no policy
listener, no state file; always stopped (SIGTERM, then waited for)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

MAILLIMITD = os.environ.get("MAILLIMITD")

CONFIG = """\
policy_listen none
admin_listen unix:{sock}
state_file none
log stderr
"""


class Daemon:
    """``with Daemon() as d:`` starts maillimitd on ``d.socket``; ``d.restart()`` stops it
    and starts a new one on the same socket; ``d.stop()`` / ``d.pause()`` / ``d.resume()``."""

    def __init__(self, extra_config: str = "") -> None:
        if not MAILLIMITD:
            raise RuntimeError("MAILLIMITD (the maillimitd binary) is not set")
        self.dir = tempfile.mkdtemp(prefix="maillimit-client-")
        self.socket = os.path.join(self.dir, "admin.sock")
        self.config = os.path.join(self.dir, "maillimit.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(sock=self.socket) + extra_config)
        self.proc = None
        self.log = open(os.path.join(self.dir, "log"), "wb")

    def start(self) -> None:
        self.proc = subprocess.Popen([MAILLIMITD, "-f", "-c", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        # ready once the admin socket accepts a connection (or the daemon died)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"maillimitd exited with {self.proc.returncode}: "
                                   f"{self.log_text()}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("maillimitd did not start: " + self.log_text())

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
                self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        self.log.flush()
        with open(os.path.join(self.dir, "log"), errors="replace") as f:
            return f.read()

    def __enter__(self) -> "Daemon":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
