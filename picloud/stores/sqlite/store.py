"""The store that records readings into the state directory's database.

Once an interval it takes what the hub's Recorder collected and writes it in
one transaction on the database's writer thread, with the day and byte
bounds applied (trim.py). Retained values and sessions are kept by the store
it wraps (the JSON files with one hub; nothing, with Redis, which keeps them).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from ...config import Config
from ...hub.message import Message
from ...hub.recording import Pending, Recorder
from ...hub.store import Store
from ..atomic import check_writable
from ..coalesce import Coalesced
from . import query, sparklines
from .database import Database
from .readings import Readings
from .schema import READINGS
from .trim import expire, readings_bytes, trim

log = logging.getLogger("picloud.store")

#: Seconds between two passes deleting what outlived its days.
EXPIRE_EVERY = 60.0
FAILURE_LOG_EVERY = 60.0


class SqliteStore(Store, Coalesced):
    def __init__(self, path: Path, inner: Store, config: Config) -> None:
        Store.__init__(self)
        Coalesced.__init__(self, config.store_interval)
        self.inner = inner
        self.raw_days = config.record_raw_days
        self.rollup_days = config.record_rollup_days
        self.max_bytes = config.store_max_bytes
        check_writable(path.parent)
        self.db = Database(path, [READINGS])
        self.db.open()
        self._readings = Readings(config.record_max_series)
        self.db.write_now(self._readings.load)
        self._recorder: Recorder | None = None
        self._last_expire = 0.0
        self._failure_logged = 0.0
        self.bytes = 0
        self.writes = 0
        self.trimmed = 0  # rows deleted for the byte budget
        self.expired = 0  # rows deleted for their age
        self.write_failures = 0  # messages not recorded: their write failed
        self.db.write_now(self._measure)

    # -- the wrapped store -------------------------------------------------

    @property
    def on_revert(self) -> Callable[[str, Message | None], None] | None:
        return self.inner.on_revert

    @on_revert.setter
    def on_revert(self, value: Callable[[str, Message | None], None] | None) -> None:
        self.inner.on_revert = value

    def load_retained(self) -> list[Message]:
        return self.inner.load_retained()

    def retained_changed(self, event: str, value: Message | None) -> None:
        self.inner.retained_changed(event, value)

    def stored(self) -> asyncio.Future[None]:
        return self.inner.stored()

    def load_sessions(self) -> bytes | None:
        return self.inner.load_sessions()

    def keep_sessions(self, snapshot: Callable[[], Callable[[], bytes]]) -> None:
        self.inner.keep_sessions(snapshot)

    def set_sessions_aside(self) -> None:
        self.inner.set_sessions_aside()

    def sessions_changed(self) -> None:
        self.inner.sessions_changed()

    # -- readings ----------------------------------------------------------

    def keep_readings(self, recorder: Recorder) -> None:
        self._recorder = recorder
        recorder.on_pending = self._schedule

    @property
    def records(self) -> bool:
        return self._recorder is not None

    async def _write(self) -> None:
        entries = self._recorder.take() if self._recorder is not None else Pending()
        try:
            if entries:
                await self.db.write(lambda conn: self._write_batch(conn, entries))
                self.writes += 1
        except (sqlite3.Error, OSError) as exc:
            self.write_failures += len(entries)
            now = time.monotonic()
            if now - self._failure_logged >= FAILURE_LOG_EVERY:
                self._failure_logged = now
                log.error("cannot record %d messages in %s: %s (not recorded)", len(entries), self.db.path, exc)
        finally:
            self._wrote()
        if self._recorder is not None and self._recorder.pending:
            self._schedule()

    def _write_batch(self, conn: sqlite3.Connection, entries: Pending) -> None:
        """On the writer thread, in the interval's transaction."""
        self._readings.write(conn, entries)
        now = time.time()
        if now - self._last_expire >= EXPIRE_EVERY:
            self._last_expire = now
            expired = expire(conn, now, self.raw_days, self.rollup_days)
            self.expired += expired
            if expired:
                self._readings.forget(conn)
        trimmed = trim(conn, self.max_bytes)
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
        try:
            await self._finish()
            if self._recorder is not None and self._recorder.pending:
                await self._write()
        finally:
            try:
                await self.inner.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, self.db.close)
