"""The MQTT sessions in the database (picloud/stores/sqlite/sessions.py,
through SqliteStore): saved once an interval however often they change,
snapshot on the event loop and encoded in the writer thread, tried again
after a failed write, set aside when they cannot be read."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from picloud.config import Config
from picloud.stores.sqlite.sessions import UNREADABLE_FILE
from picloud.stores.sqlite.store import SqliteStore
from tests.support.statedb import DATABASE, query


class Sessions:
    """What the MQTT front end hands the store: a snapshot, encoded later."""

    def __init__(self) -> None:
        self.state = b"{}"
        self.snapshots: list[str] = []
        self.encoded: list[str] = []

    def snapshot(self):
        self.snapshots.append(threading.current_thread().name)
        state = self.state

        def encode() -> bytes:
            self.encoded.append(threading.current_thread().name)
            return state

        return encode


def store_of(path, interval=0.05):
    return SqliteStore(path, config=Config(store_interval=interval))


def test_sessions_are_saved_once_an_interval_and_encoded_off_the_loop(tmp_path):
    path = tmp_path / DATABASE
    sessions = Sessions()

    async def run():
        store = store_of(path, interval=0.2)
        store.keep_sessions(sessions.snapshot)
        for n in range(50):
            sessions.state = b'{"n": %d}' % n
            store.sessions_changed()
        await store.close()  # the write planned for later happens now
        return store

    store = asyncio.run(run())
    assert query(path, "SELECT data FROM sessions") == [(b'{"n": 49}',)]
    assert sessions.snapshots == ["MainThread"] and len(sessions.encoded) == 1
    assert sessions.encoded[0].startswith("picloud-store-write")

    async def load():
        again = store_of(path)
        data = again.load_sessions()
        await again.close()
        return data

    assert asyncio.run(load()) == b'{"n": 49}'
    assert store.writes == 1


def test_nothing_is_written_while_nothing_changed(tmp_path):
    sessions = Sessions()

    async def run():
        store = store_of(tmp_path / DATABASE)
        store.keep_sessions(sessions.snapshot)
        await store.close()

    asyncio.run(run())
    assert sessions.snapshots == [] and query(tmp_path / DATABASE, "SELECT count(*) FROM sessions") == [(0,)]


def test_a_failed_write_is_tried_again_and_logged_once(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / DATABASE
    sessions = Sessions()

    async def run():
        store = store_of(path, interval=0.01)
        store.keep_sessions(sessions.snapshot)
        store.db.on_writer(lambda conn: conn.execute("PRAGMA query_only=1"))
        store.sessions_changed()
        for n in range(3):  # three intervals, three failed tries
            # A retained change shares the interval's transaction: its
            # answer says when the transaction has been tried.
            store.retained_changed(f"t{n}", None)
            with pytest.raises(OSError):
                await store.stored()
        store.db.on_writer(lambda conn: conn.execute("PRAGMA query_only=0"))
        store.retained_changed("t", None)
        await store.stored()
        await store.close()
        assert len(sessions.snapshots) == 4  # taken again each interval until written

    asyncio.run(run())
    assert query(path, "SELECT data FROM sessions") == [(b"{}",)]
    lines = [r.getMessage() for r in caplog.records]
    assert sum(line.startswith(f"cannot write mqtt sessions to {path}: ") for line in lines) == 1
    assert f"mqtt sessions written to {path} again" in lines


def test_an_encoding_that_fails_is_logged_and_costs_the_interval_nothing_else(tmp_path, caplog):
    path = tmp_path / DATABASE

    def snapshot():
        def encode() -> bytes:
            raise ValueError("a bug")
        return encode

    async def run():
        store = store_of(path)
        store.keep_sessions(snapshot)
        store.sessions_changed()
        store.retained_changed("t", None)
        await store.stored()  # the retained change of the same transaction is committed
        await store.close()

    asyncio.run(run())
    assert query(path, "SELECT count(*) FROM sessions") == [(0,)]
    failed = [r for r in caplog.records if r.getMessage() == "cannot save the mqtt sessions"]
    assert len(failed) == 1 and failed[0].exc_info[0] is ValueError


def test_sessions_that_cannot_be_read_are_set_aside_for_a_human(tmp_path, caplog):
    path = tmp_path / DATABASE
    sessions = Sessions()
    sessions.state = b"{not json"

    async def save():
        store = store_of(path)
        store.keep_sessions(sessions.snapshot)
        store.sessions_changed()
        await store.close()

    asyncio.run(save())

    async def set_aside():
        store = store_of(path)
        assert store.load_sessions() == b"{not json"
        store.set_sessions_aside()  # what the front end does when it cannot read them
        data = store.load_sessions()
        await store.close()
        return data

    assert asyncio.run(set_aside()) is None
    assert (tmp_path / UNREADABLE_FILE).read_bytes() == b"{not json"
    assert f"moved the unreadable mqtt sessions from {path} to {tmp_path / UNREADABLE_FILE}" in caplog.messages
