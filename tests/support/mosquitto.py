"""A mosquitto of the test's own (Debian's Mosquitto 2) on a free loopback
port, for the bridge tests: started from the lines a test gives (a
``connection`` block), ready once it says it runs, its log kept and
waitable, stopped by the ``mosquitto`` fixture's teardown."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.support.process import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    def __init__(self, directory: Path, config: str) -> None:
        self.port = free_port()
        self.path = directory / f"mosquitto-{self.port}.conf"
        # General options first: what follows a ``connection`` line is that bridge's.
        self.path.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             f"log_dest stderr\nlog_type all\n{config}")
        self.lines: list[str] = []
        self._ended = False  # its log ended: it exited
        self._changed = threading.Condition()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.path)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        # Logged once its listeners are open, before the loop that serves them.
        self.wait_for_log(" running")

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        """The first log line containing ``text``, once Mosquitto has written it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if text in line:
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    raise AssertionError(f"mosquitto never logged {text!r}:\n{self.log}")
                self._changed.wait(left)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
