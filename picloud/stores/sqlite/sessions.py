"""The MQTT persistent sessions in the database: one row holding them all, as
the MQTT front end encodes them (server/mqtt/persist.py; opaque here).

Sessions change with every QoS 1 or 2 message their clients are sent, so the
row is written as the retained values are: in the interval's transaction
while something changed, and once more on shutdown. The snapshot is taken
on the event loop (references only); it is encoded in the writer thread. A
write that fails is tried again the next interval (the sessions themselves
are in memory and go on working).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable

from ..atomic import write_atomic
from ..files import SESSIONS_FILE

log = logging.getLogger("picloud.mqtt")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY CHECK (id = 0), data BLOB NOT NULL)
"""
#: Where sessions that cannot be read are set aside, for a human (state directory).
UNREADABLE_FILE = SESSIONS_FILE + ".unreadable"
#: After the first failed write is logged, at most one line per this many seconds.
FAILURE_LOG_EVERY = 60.0

Work = Callable[[sqlite3.Connection], None]


def load(conn: sqlite3.Connection) -> bytes | None:
    row = conn.execute("SELECT data FROM sessions WHERE id = 0").fetchone()
    return None if row is None else bytes(row[0])


def save(conn: sqlite3.Connection, data: bytes) -> None:
    conn.execute("INSERT OR REPLACE INTO sessions (id, data) VALUES (0, ?)", (data,))


def set_aside(conn: sqlite3.Connection, directory: Path) -> Path | None:
    """Move what the row holds to a file of ``directory``; None if no row."""
    data = load(conn)
    if data is None:
        return None
    aside = directory / UNREADABLE_FILE
    write_atomic(aside, data)
    conn.execute("DELETE FROM sessions WHERE id = 0")
    return aside


class SessionsPart:
    """The sessions' share of each interval's transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path  # named in the log
        self.writes = 0
        self.dirty = False
        self._snapshot: Callable[[], Callable[[], bytes]] | None = None
        self._failing = False
        self._failure_logged = 0.0

    @property
    def pending(self) -> bool:
        return self.dirty and self._snapshot is not None

    def keep(self, snapshot: Callable[[], Callable[[], bytes]]) -> None:
        self._snapshot = snapshot

    def take(self) -> Work | None:
        snapshot = self._snapshot
        if not self.dirty or snapshot is None:
            return None
        self.dirty = False
        try:
            encode = snapshot()  # on the loop: the sessions are the loop's
        except Exception:  # a bug: logged, and the hub goes on (its retained values are written)
            log.exception("cannot save the mqtt sessions")
            return None
        return lambda conn: save(conn, encode())

    def done(self, error: BaseException | None) -> None:
        if error is None:
            self.writes += 1
            if self._failing:
                log.warning("mqtt sessions written to %s again", self.path)
                self._failing = False
        elif isinstance(error, (OSError, sqlite3.Error)):
            self.dirty = True  # tried again next interval
            self._log_failure(error)
        else:  # a bug in the encoding: logged, not tried again until they change
            log.error("cannot save the mqtt sessions", exc_info=error)

    def _log_failure(self, error: BaseException) -> None:
        now = time.monotonic()
        if self._failing and now - self._failure_logged < FAILURE_LOG_EVERY:
            return
        self._failing = True
        self._failure_logged = now
        log.error("cannot write mqtt sessions to %s: %s (kept in memory, tried again)", self.path, error)
