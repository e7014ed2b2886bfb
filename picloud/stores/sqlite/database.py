"""One SQLite database in the state directory, written from one thread.

Every write is a function run in a transaction on the writer thread, which
has its own connection: the event loop never waits on the disk. Reads run on
a reader thread with a connection of their own, so a long query never holds
back the next commit (WAL lets them run side by side).

WAL with ``synchronous=FULL``: a commit is in the log and synced before it
returns, so what a commit held survives kill -9 and, as far as the storage
honours fsync, a power cut; a crash in the middle of a transaction leaves the
database as the last commit left it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ...exceptions import ConfigError

log = logging.getLogger("picloud.store")

T = TypeVar("T")

FILE_NAME = "picloud.db"
#: How long a statement waits for a lock another connection holds (the reader's).
BUSY_TIMEOUT_MS = 5000


class Database:
    def __init__(self, path: Path, schemas: Sequence[str]) -> None:
        self.path = path
        self._schemas = schemas
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="picloud-store-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="picloud-store-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.closed = False

    def open(self) -> None:
        """Create or check the database (at start, before the hub serves).
        A file that is not a database, or a damaged one (``quick_check``),
        is moved aside with its WAL, for a human, and a new one made."""
        try:
            self._writer.submit(self._setup).result()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
                raise ConfigError(f"cannot open {str(self.path)!r}: {exc}") from None
            self._close_thread_connection(self._writer)
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.error("cannot read %s (%s); moved it to %s, starting empty", self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
                except FileNotFoundError:
                    pass
            self._writer.submit(self._setup).result()

    def _setup(self) -> None:
        conn = self._connection()
        # auto_vacuum only takes effect before the first table: a trimmed
        # database gives its pages back to the SD card.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.DatabaseError(f"journal mode {mode!r}, not wal")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":  # the first problem of a list that may be long
            lines = [line for line in str(check).splitlines() if line and not line.startswith("***")]
            raise sqlite3.DatabaseError(f"damaged: {lines[0] if lines else check}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for schema in self._schemas:
                for statement in schema.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _close_thread_connection(self, executor: ThreadPoolExecutor) -> None:
        def close() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
                self._local.conn = None
                with self._lock:
                    self._connections.remove(conn)
        executor.submit(close).result()

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction on the writer thread; committed
        when this returns, rolled back if it raises."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._transaction, work)

    def write_now(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``write``, waited for here (at start, before the loop serves)."""
        return self._writer.submit(self._transaction, work).result()

    def on_writer(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with the writer's connection outside a transaction
        (a setting of that connection: a PRAGMA), waited for here."""
        return self._writer.submit(lambda: work(self._connection())).result()

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the reader thread (it sees the last commit)."""
        return await asyncio.get_running_loop().run_in_executor(self._reader, self._read, work)

    def read_now(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self._reader.submit(self._read, work).result()

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        conn.execute("BEGIN")  # one snapshot for all of work's statements
        try:
            return work(conn)
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """After the last write: the threads end and the connections close
        (which checkpoints the WAL into the database file)."""
        if self.closed:
            return
        self.closed = True
        for executor in (self._reader, self._writer):
            try:
                self._close_thread_connection(executor)
            except sqlite3.Error as exc:  # the data is committed already
                log.warning("closing %s: %s", self.path, exc)
            executor.shutdown(wait=True)
