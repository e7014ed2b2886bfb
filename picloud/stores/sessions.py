"""The MQTT persistent sessions, kept in one file of the state directory.

Sessions change with every QoS 1 or 2 message their clients are sent, so the
file is written as the retained values are: at most once per ``interval``
seconds while something changed, replaced atomically, and once more on
shutdown. A crash loses at most the last interval's changes; the file is
never half-written. A write that fails is tried again the next interval
(the sessions themselves are in memory and go on working).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Callable

from .atomic import remove_stale_temporaries, write_atomic

log = logging.getLogger("picloud.mqtt")

SESSIONS_FILE = "mqtt-sessions.json"
#: After the first failed write is logged, at most one line per this many seconds.
FAILURE_LOG_EVERY = 60.0


class SessionFile:
    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.writes = 0
        self._snapshot: Callable[[], Callable[[], bytes]] | None = None
        self._dirty = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Future[None] | None = None
        self._last_write = 0.0
        self._closed = False
        self._writing = False
        self._failing = False
        self._failure_logged = 0.0
        remove_stale_temporaries(path)

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("cannot read mqtt sessions from %s: %s (starting without them)", self.path, exc.strerror)
            return None

    def set_aside(self) -> None:
        """The file cannot be read as sessions: kept for a human, not reused."""
        aside = self.path.with_name(self.path.name + ".unreadable")
        try:
            os.replace(self.path, aside)
        except OSError:
            return
        log.error("moved the unreadable %s to %s", self.path, aside)

    def keep(self, snapshot: Callable[[], Callable[[], bytes]]) -> None:
        self._snapshot = snapshot

    def changed(self) -> None:
        if self._dirty:
            return  # the hot path: a QoS 1 delivery marks it every time
        self._dirty = True
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None or self._closed or self._writing:
            return  # the running write reschedules when it ends
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (unit use): close() writes
        delay = max(0.0, self._last_write + self.interval - time.monotonic())
        self._timer = loop.call_later(delay, self._start_write)

    def _start_write(self) -> None:
        self._timer = None
        self._writing = True  # before the task runs: no second write meanwhile
        self._task = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        if self._snapshot is None:
            self._writing = False
            return
        self._writing = True
        self._dirty = False
        try:
            encode = self._snapshot()  # on the loop: the sessions are the loop's
            await asyncio.get_running_loop().run_in_executor(None, self._encode_and_write, encode)
        except OSError as exc:
            self._dirty = True  # tried again next interval
            self._log_failure(exc)
        except Exception:  # a bug: logged, and the hub goes on (its retained values are written)
            log.exception("cannot save the mqtt sessions")
        else:
            self.writes += 1
            if self._failing:
                log.warning("mqtt sessions written to %s again", self.path)
                self._failing = False
        finally:
            self._writing = False
            self._last_write = time.monotonic()
        if self._dirty:
            self._schedule()

    def _encode_and_write(self, encode: Callable[[], bytes]) -> None:
        write_atomic(self.path, encode())

    def _log_failure(self, exc: OSError) -> None:
        now = time.monotonic()
        if self._failing and now - self._failure_logged < FAILURE_LOG_EVERY:
            return
        self._failing = True
        self._failure_logged = now
        log.error("cannot write mqtt sessions to %s: %s (kept in memory, tried again)", self.path, exc)

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            await self._task
        if self._dirty:
            await self._write()
