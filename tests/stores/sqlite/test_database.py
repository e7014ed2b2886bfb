"""The database file (picloud/stores/sqlite/database.py): WAL and synchronous
FULL on every connection, and a file that is not a sound database moved
aside with its WAL, for a human, instead of being written over."""

from __future__ import annotations

import random

from picloud.stores.sqlite.database import Database
from tests.support.statedb import DATABASE, query

SCHEMA = "CREATE TABLE IF NOT EXISTS t (a INTEGER, b TEXT)"


def test_wal_and_a_synced_commit(tmp_path):
    db = Database(tmp_path / DATABASE, [SCHEMA])
    db.open()
    try:
        assert db.on_writer(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()) == ("wal",)
        assert db.on_writer(lambda conn: conn.execute("PRAGMA synchronous").fetchone()) == (2,)  # FULL
        assert db.read_now(lambda conn: conn.execute("PRAGMA synchronous").fetchone()) == (2,)
    finally:
        db.close()


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path, caplog):
    path = tmp_path / DATABASE
    path.write_bytes(b"not a database, " * 100)
    db = Database(path, [SCHEMA])
    db.open()
    db.write_now(lambda conn: conn.execute("INSERT INTO t VALUES (1, 'x')"))
    db.close()
    assert (tmp_path / (DATABASE + ".unreadable")).read_bytes() == b"not a database, " * 100
    assert query(path, "SELECT a FROM t") == [(1,)]
    assert any(m.startswith(f"cannot read {path} (") for m in caplog.messages)


def test_a_damaged_database_is_moved_aside_and_a_new_one_made(tmp_path, caplog):
    path = tmp_path / DATABASE
    db = Database(path, [SCHEMA])
    db.open()
    db.write_now(lambda conn: conn.executemany("INSERT INTO t VALUES (?, ?)", [(n, "x" * 100) for n in range(2000)]))
    db.close()
    damaged = bytearray(path.read_bytes())
    page = len(damaged) // 4096 // 2 * 4096  # one in the middle: the header still says "SQLite format 3"
    damaged[page + 100:page + 3000] = random.Random(3).randbytes(2900)  # the same damage every run
    path.write_bytes(bytes(damaged))
    again = Database(path, [SCHEMA])
    again.open()
    rows = again.read_now(lambda conn: conn.execute("SELECT count(*) FROM t").fetchall())
    again.close()
    assert rows == [(0,)]
    aside = (tmp_path / (DATABASE + ".unreadable")).read_bytes()
    assert aside[100:] == damaged[100:]  # the pages as damaged (SQLite may have touched the header)
    assert any(m.startswith(f"cannot read {path} (") and m.endswith(", starting empty") for m in caplog.messages)
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
