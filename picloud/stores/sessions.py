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
from .coalesce import Coalesced

log = logging.getLogger("picloud.mqtt")

SESSIONS_FILE = "mqtt-sessions.json"
#: After the first failed write is logged, at most one line per this many seconds.
FAILURE_LOG_EVERY = 60.0


class SessionFile(Coalesced):
    def __init__(self, path: Path, interval: float) -> None:
        super().__init__(interval)
        self.path = path
        self.writes = 0
        self._snapshot: Callable[[], Callable[[], bytes]] | None = None
        self._dirty = False
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
            self._wrote()
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
        await self._finish()
        if self._dirty:
            await self._write()
