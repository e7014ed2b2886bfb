"""Retained values in the database: one row per event, written as the
changes of an interval (an upsert or a delete per changed event, in that
interval's transaction), never the whole set.

A row keeps the ``"retained": true`` variant's frame as it was sent, its seq,
and for an MQTT publisher's value its bytes and QoS, so that an MQTT
subscriber gets after a restart exactly what it got before (21.50, not 21.5).

``stored()`` resolves once the commit that holds every change made so far
has returned. A commit that fails keeps nothing half-way: memory goes back to
what the database holds (through ``on_revert``), the publishers waiting are
told (OSError: 503, or an error frame), and the log gets one line, then at
most one a minute. The hub's own ``$SYS/`` values (presence) are true in
memory whatever the disk says: they stay, and are written once it allows.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

from ...hub.message import Message
from ...hub.retained import OWN_PREFIX

log = logging.getLogger("picloud.retained")

SCHEMA = """
CREATE TABLE IF NOT EXISTS retained (
    event TEXT PRIMARY KEY, frame BLOB NOT NULL, seq INTEGER NOT NULL,
    qos INTEGER NOT NULL, raw BLOB)
"""
UPSERT = ("INSERT INTO retained (event, frame, seq, qos, raw) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (event) DO UPDATE SET frame = excluded.frame, seq = excluded.seq, "
          "qos = excluded.qos, raw = excluded.raw")
#: After the first failed write is logged, at most one line per this many seconds.
FAILURE_LOG_EVERY = 60.0

Row = tuple[str, bytes, int, int, "bytes | None"]
Work = Callable[[sqlite3.Connection], None]


def rows(values: Iterable[Message]) -> list[Row]:
    """What the table keeps of each value (taken on the event loop)."""
    return [(m.event, m.payload, m.seq, m.qos, m.raw) for m in values]


def write(conn: sqlite3.Connection, upserts: list[Row], deletes: list[tuple[str]]) -> None:
    if deletes:
        conn.executemany("DELETE FROM retained WHERE event = ?", deletes)
    if upserts:
        conn.executemany(UPSERT, upserts)


def load(conn: sqlite3.Connection) -> list[Message]:
    """The values the database holds (at start)."""
    values = []
    for event, frame, seq, qos, raw in conn.execute("SELECT event, frame, seq, qos, raw FROM retained"):
        if not isinstance(event, str) or not isinstance(frame, bytes):
            log.warning("retained value of %r left out: not what the hub writes", event)
            continue
        message = Message(event, frame)
        message.seq = seq if isinstance(seq, int) else 0
        message.qos = qos if qos in (0, 1, 2) else 0
        message.raw = raw if isinstance(raw, bytes) else None
        message.from_retained = True
        values.append(message)
    return values


def holds_any(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM retained LIMIT 1").fetchone() is not None


class RetainedPart:
    """The retained values' share of each interval's transaction. Touched on
    the event loop only: ``take`` hands the writer thread plain rows."""

    def __init__(self, path: Path, values: Iterable[Message]) -> None:
        self.path = path  # named in the log
        self.on_revert: Callable[[str, Message | None], None] | None = None
        self.writes = 0
        self.durable = {value.event: value for value in values}  # what the database holds
        self._pending: dict[str, Message | None] = {}  # changed since the last take
        self._taken: dict[str, Message | None] = {}  # in the transaction under way
        # Changes are numbered: a waiter is resolved by the commit that holds
        # its number, and one that comes after a failed commit must still hear
        # that the last change was given back, not that all is well.
        self._changes = 0
        self._taken_upto = 0
        self._written = 0
        self._given_back = 0
        self._last_error: BaseException | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._failing_since: float | None = None
        self._failure_logged = 0.0

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def changed(self, event: str, value: Message | None) -> None:
        self._pending[event] = value
        self._changes += 1

    def stored(self, closed: bool) -> asyncio.Future[None]:
        """Resolves once every change made so far is committed (or failed to be)."""
        waiter = asyncio.get_running_loop().create_future()
        upto = self._changes
        if upto <= self._written:
            waiter.set_result(None)
        elif upto <= self._given_back:
            waiter.set_exception(self._error(self._last_error))
        elif closed and upto > self._taken_upto:
            waiter.set_exception(OSError("cannot store retained value: the hub is shutting down"))
        else:
            self._waiters.append((upto, waiter))
        return waiter

    # -- the interval's transaction ------------------------------------------

    def take(self) -> Work | None:
        """On the loop: the changes since the last take, as a function for
        the transaction, or None."""
        if not self._pending:
            return None
        self._taken, self._pending = self._pending, {}
        self._taken_upto = self._changes
        upserts = rows(m for m in self._taken.values() if m is not None)
        deletes = [(event,) for event, m in self._taken.items() if m is None]
        return lambda conn: write(conn, upserts, deletes)

    def done(self, error: BaseException | None) -> None:
        """On the loop, after the transaction: committed if ``error`` is None."""
        taken, self._taken = self._taken, {}
        if error is None:
            self.writes += 1
            for event, value in taken.items():
                if value is None:
                    self.durable.pop(event, None)
                else:
                    self.durable[event] = value
            self._written = self._taken_upto
            if self._failing_since is not None:
                log.warning("retained values written to %s again", self.path)
                self._failing_since = None
            waiting = []
            for upto, waiter in self._waiters:
                if upto <= self._written:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    waiting.append((upto, waiter))
            self._waiters = waiting
            return
        self._last_error = error
        self._given_back = self._changes  # those made meanwhile too: nothing half-kept
        self._give_back(taken)
        waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(self._error(error))
        self._log_failure(error)

    def close(self) -> None:
        """After the last transaction: whoever still waits is told."""
        waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(OSError("cannot store retained value: the hub is shutting down"))

    def _give_back(self, taken: dict[str, Message | None]) -> None:
        """Memory goes back to what the database holds; the hub's own values stay, to be written later."""
        now = {**taken, **self._pending}
        own: dict[str, Message | None] = {}
        for event, value in now.items():
            kept = self.durable.get(event)
            if value is kept:
                continue
            if event.startswith(OWN_PREFIX):
                # Presence is the hub's own state, not a publisher's: kept in
                # memory (where it is true) and written once the disk allows.
                own[event] = value
            elif self.on_revert is not None:
                self.on_revert(event, kept)
        self._pending = own

    @staticmethod
    def _error(error: BaseException | None) -> OSError:
        return OSError(f"cannot store retained value: {error}")

    def _log_failure(self, error: BaseException) -> None:
        # One line when writes start failing, then one a minute: a full SD
        # card must not also fill the journal.
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failure_logged < FAILURE_LOG_EVERY:
            return
        self._failure_logged = now
        log.error("cannot write retained values to %s: %s (values not kept)", self.path, error)
