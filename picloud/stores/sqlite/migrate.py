"""The first start with picloud.db: what the JSON files of earlier versions
held (``retained.json``, version 1 or 2, and ``mqtt-sessions.json``) moves
into the database, and the files are renamed ``*.migrated``, a backup that
nothing reads again.

A file moves only into a database that holds nothing of its kind yet; one
left beside a database that does (an older version ran here meanwhile) is
named in the log and left alone. The database's commit comes before the
renames: a crash between the two leaves a file the next start leaves alone.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from ...hub.message import Message
from ..atomic import remove_stale_temporaries
from ..files import FILE_NAME, SESSIONS_FILE, read_retained, read_sessions
from . import retained, sessions
from .database import Database

log = logging.getLogger("picloud.store")

SUFFIX = ".migrated"


def migrate(db: Database) -> None:
    """Move the JSON files of the database's directory into it (at start)."""
    directory = db.path.parent
    retained_file, sessions_file = directory / FILE_NAME, directory / SESSIONS_FILE
    for path in (retained_file, sessions_file):
        remove_stale_temporaries(path)  # what a write of an earlier version cut short left
    if not (retained_file.exists() or sessions_file.exists()):
        return
    has_values, has_sessions = db.read_now(lambda conn: (retained.holds_any(conn), sessions.load(conn) is not None))
    moved: list[Path] = []
    values: list[Message] = []
    data: bytes | None = None
    for path, taken in ((retained_file, has_values), (sessions_file, has_sessions)):
        if path.exists() and taken:
            log.warning("%s left as it is: %s holds what it would bring already", path, db.path.name)
    if retained_file.exists() and not has_values:
        values = read_retained(retained_file)  # one that cannot be read is moved aside
        if retained_file.exists():
            moved.append(retained_file)
    if sessions_file.exists() and not has_sessions:
        data = read_sessions(sessions_file)
        if data is not None:
            moved.append(sessions_file)
    if not moved:
        return

    def write(conn: sqlite3.Connection) -> None:
        retained.write(conn, retained.rows(values), [])
        if data is not None:
            sessions.save(conn, data)

    db.write_now(write)
    for path in moved:
        os.replace(path, path.with_name(path.name + SUFFIX))
    what = []
    if retained_file in moved:
        what.append(f"{len(values)} retained values from {FILE_NAME}")
    if sessions_file in moved:
        what.append(f"the mqtt sessions from {SESSIONS_FILE}")
    log.info("moved %s into %s; kept the %s as %s", " and ".join(what), db.path,
             "files" if len(moved) > 1 else "file", ", ".join(p.name + SUFFIX for p in moved))
