"""The state directory's database (picloud.db) as a test reads it from
outside the hub: its retained values, its saved sessions, its soundness."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

DATABASE = "picloud.db"


def query(path: Path, sql: str, *args: Any) -> list[Any]:
    """Rows of one statement (committed at once, if it writes). Beside a
    running hub too (WAL: readers and its writer do not wait on each other)."""
    with contextlib.closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as conn:
        return conn.execute(sql, args).fetchall()


def retained_data(path: Path) -> dict[str, Any]:
    """Each retained value's data, by event."""
    return {event: json.loads(frame)["data"] for event, frame in query(path, "SELECT event, frame FROM retained")}


def saved_sessions(path: Path) -> dict[str, Any] | None:
    """The MQTT sessions as last saved, decoded; None if none or not yet."""
    try:
        rows = query(path, "SELECT data FROM sessions WHERE id = 0")
    except sqlite3.OperationalError:  # not made yet
        return None
    return json.loads(rows[0][0]) if rows else None


def copy_as_left(state: Path, into: Path) -> Path:
    """A copy of the database and its WAL as they are now (after kill -9:
    what the crash left), so that opening it changes nothing of the original."""
    into.mkdir(parents=True, exist_ok=True)
    copy = into / DATABASE
    for suffix in ("", "-wal", "-shm"):
        source, target = state / f"{DATABASE}{suffix}", into / f"{DATABASE}{suffix}"
        target.unlink(missing_ok=True)
        if source.exists() and suffix != "-shm":  # the index of the WAL is rebuilt from it
            shutil.copyfile(source, target)
    return copy


def integrity(path: Path) -> str:
    return "\n".join(row[0] for row in query(path, "PRAGMA integrity_check"))
