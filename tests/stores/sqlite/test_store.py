"""The state directory's store (picloud/stores/sqlite/store.py): one
transaction an interval for all it holds, each part in a savepoint of its
own, and with a broker that keeps the retained values (Redis) readings only."""

from __future__ import annotations

import asyncio

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.config import Config
from picloud.exceptions import ConfigError
from picloud.hub.pubsub import PubSub
from picloud.hub.recording import Recorder
from picloud.hub.retained import Retained
from picloud.hub.store import Store
from picloud.stores.sqlite.store import SqliteStore
from tests.support.statedb import DATABASE, query, retained_data


def recording_hub(path, inner=None, interval=0.05):
    store = SqliteStore(path, inner, Config(store_interval=interval))
    recorder = Recorder(["#"])
    store.keep_readings(recorder)
    pubsub = PubSub(MemoryBroker(), retained=Retained(store))
    pubsub.recorder = recorder
    return store, pubsub


def test_one_transaction_holds_the_interval_s_retained_values_sessions_and_readings(tmp_path):
    path = tmp_path / DATABASE

    async def run():
        store, pubsub = recording_hub(path, interval=0.2)
        store.keep_sessions(lambda: lambda: b'{"sessions": []}')
        statements = []
        store.db.on_writer(lambda conn: conn.set_trace_callback(statements.append))
        for n in range(20):
            pubsub.publish("sensor/t", 20 + n / 10, retain=n % 2 == 0)
            store.sessions_changed()
        await store.stored()
        store.db.on_writer(lambda conn: conn.set_trace_callback(None))
        await store.close()
        return statements

    statements = asyncio.run(run())
    assert statements[0] == "BEGIN IMMEDIATE" and statements.count("BEGIN IMMEDIATE") == 1
    assert statements[-1] == "COMMIT" and statements.count("COMMIT") == 1
    body = " ".join(statements)
    assert "INTO retained" in body and "INTO sessions" in body and "INTO points" in body
    assert retained_data(path) == {"sensor/t": 21.8}
    assert query(path, "SELECT count FROM events WHERE name = 'sensor/t'") == [(20,)]
    assert query(path, "SELECT data FROM sessions") == [(b'{"sessions": []}',)]


def test_a_part_that_fails_is_rolled_back_alone(tmp_path):
    path = tmp_path / DATABASE

    async def run():
        store, pubsub = recording_hub(path)
        pubsub.publish("t", 1, retain=True)
        await store.stored()
        store.keep_sessions(lambda: lambda: b"{}")
        store.db.on_writer(lambda conn: conn.execute(
            "CREATE TEMP TRIGGER refuse BEFORE UPDATE ON main.retained BEGIN SELECT RAISE(ABORT, 'no room'); END"))
        pubsub.publish("t", 2, retain=True)
        pubsub.publish("reading", 5)
        store.sessions_changed()
        with pytest.raises(OSError, match="cannot store retained value: no room"):
            await store.stored()
        value = pubsub.retained.get("t")
        await store.close()
        return value

    value = asyncio.run(run())
    assert b'"data":1' in value.payload  # given back: what the database holds
    assert retained_data(path) == {"t": 1}
    # The rest of the transaction is committed.
    assert query(path, "SELECT name, count FROM events ORDER BY name") == [("reading", 1), ("t", 2)]
    assert query(path, "SELECT data FROM sessions") == [(b"{}",)]


def test_with_a_broker_that_keeps_the_retained_values_it_records_readings_only(tmp_path):
    path = tmp_path / DATABASE

    async def run():
        store, pubsub = recording_hub(path, inner=Store())
        pubsub.publish("t", 1, retain=True)
        stored = store.stored()
        assert stored.done()  # the inner store (Redis's: the base Store) keeps nothing
        assert store.load_sessions() is None
        store.keep_sessions(lambda: lambda: b"{}")
        store.sessions_changed()
        await store.close()

    asyncio.run(run())
    assert query(path, "SELECT count(*) FROM retained") == [(0,)]
    assert query(path, "SELECT count(*) FROM sessions") == [(0,)]
    assert query(path, "SELECT name FROM events") == [("t",)]


def test_a_state_directory_that_cannot_be_written_is_one_clear_error(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("")  # where the directory should be, a file
    with pytest.raises(ConfigError, match=r"cannot write in the state directory .*: not a directory \(retained"):
        SqliteStore(blocker / "sub" / DATABASE)
