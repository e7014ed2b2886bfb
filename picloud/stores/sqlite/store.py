"""The store of the state directory's database: retained values, MQTT
sessions and recorded readings, in one SQLite file (database.py).

Once an interval, everything the interval holds is written in one
transaction on the database's writer thread: the retained values that
changed (retained.py), the sessions (sessions.py), and the readings the
hub's Recorder collected, with the day and byte bounds applied (trim.py).
Each of them takes what it has on the event loop (``take``: a function for
the transaction, or None) and hears after the commit how it went (``done``).
Each runs in a savepoint of its own: one that fails (a bug, a value too big
for the disk) is rolled back alone, and the others are committed; a commit
that fails fails them all. An SD card sees one small write an interval,
however many messages come, never one per message.

With a broker that keeps the retained values itself (Redis), the store is
made with an ``inner`` store that the retained values and sessions go to
instead (the base Store, which keeps nothing: Redis has them); then this one
records readings only.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

from ...config import Config
from ...hub.message import Message
from ...hub.recording import Pending, Recorder
from ...hub.store import Store
from ..atomic import check_writable
from ..coalesce import Coalesced
from . import query, retained, sessions, sparklines
from .database import Database
from .migrate import migrate
from .readings import Readings
from .retained import RetainedPart
from .schema import READINGS
from .sessions import SessionsPart
from .trim import expire, readings_bytes, trim

log = logging.getLogger("picloud.store")

#: Seconds between two passes deleting what outlived its days.
EXPIRE_EVERY = 60.0
FAILURE_LOG_EVERY = 60.0

Work = Callable[[sqlite3.Connection], None]
Done = Callable[[Optional[BaseException]], None]


def run_parts(conn: sqlite3.Connection, works: list[Work]) -> list[BaseException | None]:
    """In the interval's transaction: each part in a savepoint of its own,
    rolled back alone if it fails. What each raised, None if nothing."""
    errors: list[BaseException | None] = []
    for work in works:
        conn.execute("SAVEPOINT part")
        try:
            work(conn)
        except Exception as exc:
            if not conn.in_transaction:
                raise  # SQLite rolled the whole transaction back: every part fails
            conn.execute("ROLLBACK TO part")
            errors.append(exc)
        else:
            errors.append(None)
        conn.execute("RELEASE part")
    return errors


class SqliteStore(Store, Coalesced):
    def __init__(self, path: Path, inner: Store | None = None, config: Config | None = None) -> None:
        """``inner``: the store that keeps the retained values and sessions
        instead of this one (None: this one keeps them)."""
        config = config if config is not None else Config()
        Store.__init__(self)
        Coalesced.__init__(self, config.store_interval)
        self.inner = inner
        self._other = inner if inner is not None else Store()  # where what no part keeps goes
        self.raw_days = config.record_raw_days
        self.rollup_days = config.record_rollup_days
        self.max_bytes = config.store_max_bytes
        check_writable(path.parent)
        self.db = Database(path, [READINGS, retained.SCHEMA, sessions.SCHEMA])
        self.db.open()
        self._retained: RetainedPart | None = None
        self._sessions: SessionsPart | None = None
        if inner is None:
            migrate(self.db)
            values = self.db.read_now(retained.load)
            self._retained = RetainedPart(path, values)
            self._sessions = SessionsPart(path)
            if values:
                log.info("loaded %d retained values from %s", len(values), path)
        self._readings = Readings(config.record_max_series)
        self.db.write_now(self._readings.load)
        self._reload_readings = False
        self._recording = 0  # messages in the transaction under way
        self._recorder: Recorder | None = None
        self._last_expire = 0.0
        self._other_bytes = [0]  # what retained values and sessions took when last measured (trim.py)
        self._failure_logged = 0.0
        self.bytes = 0
        self.writes = 0  # transactions committed
        self.trimmed = 0  # rows deleted for the byte budget
        self.expired = 0  # rows deleted for their age
        self.write_failures = 0  # messages not recorded: their write failed
        self.db.write_now(self._measure)

    # -- retained values ---------------------------------------------------

    @property
    def on_revert(self) -> Callable[[str, Message | None], None] | None:
        return (self._retained or self._other).on_revert

    @on_revert.setter
    def on_revert(self, value: Callable[[str, Message | None], None] | None) -> None:
        (self._retained or self._other).on_revert = value

    def load_retained(self) -> list[Message]:
        if self._retained is None:
            return self._other.load_retained()
        return list(self._retained.durable.values())

    def retained_changed(self, event: str, value: Message | None) -> None:
        if self._retained is None:
            return self._other.retained_changed(event, value)
        self._retained.changed(event, value)
        self._schedule()

    def stored(self) -> asyncio.Future[None]:
        if self._retained is None:
            return self._other.stored()
        waiter = self._retained.stored(self._closed)
        if not waiter.done():
            self._schedule()
        return waiter

    # -- sessions ----------------------------------------------------------

    def load_sessions(self) -> bytes | None:
        if self._sessions is None:
            return self._other.load_sessions()
        return self.db.read_now(sessions.load)

    def keep_sessions(self, snapshot: Callable[[], Callable[[], bytes]]) -> None:
        if self._sessions is None:
            return self._other.keep_sessions(snapshot)
        self._sessions.keep(snapshot)

    def set_sessions_aside(self) -> None:
        if self._sessions is None:
            return self._other.set_sessions_aside()
        directory = self.db.path.parent
        try:
            aside = self.db.write_now(lambda conn: sessions.set_aside(conn, directory))
        except (OSError, sqlite3.Error) as exc:
            log.error("cannot set the unreadable mqtt sessions aside: %s", exc)
            return
        if aside is not None:
            log.error("moved the unreadable mqtt sessions from %s to %s", self.db.path, aside)

    def sessions_changed(self) -> None:
        part = self._sessions
        if part is None:
            return self._other.sessions_changed()
        if part.dirty:
            return  # the hot path: a QoS 1 delivery marks it every time
        part.dirty = True
        self._schedule()

    # -- the interval's transaction ------------------------------------------

    @property
    def _pending(self) -> bool:
        return ((self._retained is not None and self._retained.pending)
                or (self._sessions is not None and self._sessions.pending)
                or (self._recorder is not None and bool(self._recorder.pending)))

    async def _write(self) -> None:
        self._writing = True
        taken: list[tuple[Done, Work]] = []
        try:
            for part in (self._retained, self._sessions):
                work = part.take() if part is not None else None
                if work is not None and part is not None:
                    taken.append((part.done, work))
            work = self._take_readings()
            if work is not None:
                taken.append((self._readings_done, work))
            errors: list[BaseException | None] = []
            if taken:
                works = [work for _, work in taken]
                try:
                    errors = await self.db.write(lambda conn: run_parts(conn, works))
                    self.writes += 1
                except Exception as exc:  # the commit, or the disk: every part failed
                    errors = [exc] * len(taken)
        finally:
            self._wrote()
        for (done, _), error in zip(taken, errors):
            done(error)
        if self._pending:
            self._schedule()

    # -- readings ----------------------------------------------------------

    def keep_readings(self, recorder: Recorder) -> None:
        self._recorder = recorder
        recorder.on_pending = self._schedule

    @property
    def records(self) -> bool:
        return self._recorder is not None

    def _take_readings(self) -> Work | None:
        entries = self._recorder.take() if self._recorder is not None else Pending()
        if not entries:
            return None
        self._recording = len(entries)
        return lambda conn: self._write_batch(conn, entries)

    def _readings_done(self, error: BaseException | None) -> None:
        if error is None:
            return
        self._reload_readings = True  # what it knew of the series may be what was rolled back
        self.write_failures += self._recording
        now = time.monotonic()
        if now - self._failure_logged >= FAILURE_LOG_EVERY:
            self._failure_logged = now
            log.error("cannot record %d messages in %s: %s (not recorded)", self._recording, self.db.path, error,
                      exc_info=None if isinstance(error, (sqlite3.Error, OSError)) else error)

    def _write_batch(self, conn: sqlite3.Connection, entries: Pending) -> None:
        """On the writer thread, in the interval's transaction."""
        if self._reload_readings:
            self._reload_readings = False
            self._readings.load(conn)
        self._readings.write(conn, entries, entries.more)
        now = time.time()
        if now - self._last_expire >= EXPIRE_EVERY:
            self._last_expire = now
            expired = expire(conn, now, self.raw_days, self.rollup_days)
            self.expired += expired
            if expired:
                self._readings.forget(conn)
        trimmed = trim(conn, self.max_bytes, self._other_bytes)
        if trimmed:
            self.trimmed += trimmed
            self._readings.forget(conn)
        self._measure(conn)

    def _measure(self, conn: sqlite3.Connection) -> None:
        self.bytes = readings_bytes(conn)

    async def readings(self, event: str, start: float, end: float, step: int | None) -> dict[str, Any]:
        return await self.db.read(lambda conn: query.read(conn, event, start, end, step))

    async def recorded_events(self, allowed: Callable[[str], bool] | None) -> list[dict[str, Any]]:
        return await self.db.read(lambda conn: query.events(conn, allowed))

    async def sparklines(self, start: float, end: float, points: int, events: Sequence[str] | None,
                         allowed: Callable[[str], bool] | None, max_events: int) -> dict[str, Any]:
        return await self.db.read(lambda conn: sparklines.read(conn, start, end, points, events, allowed, max_events))

    def stats(self) -> dict[str, float]:
        readings = self._readings
        dropped = self._recorder.dropped if self._recorder is not None else 0
        return {
            "bytes": self.bytes, "series": len(readings.series), "events": len(readings.events),
            "writes": self.writes, "trimmed": self.trimmed, "expired": self.expired,
            "dropped_series_limit": readings.dropped["series_limit"],
            "dropped_unreadable": readings.dropped["unreadable"],
            "dropped_behind": dropped, "dropped_write_failed": self.write_failures,
            "rollup_only": readings.rollup_only,
        }

    async def close(self) -> None:
        """Write what is pending now (on shutdown); later changes stay in memory."""
        try:
            await self._finish()
            if self._pending:
                await self._write()
        finally:
            try:
                if self._retained is not None:
                    self._retained.close()
                await self._other.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, self.db.close)
