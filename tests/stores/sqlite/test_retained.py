"""Retained values in the database (picloud/stores/sqlite/retained.py, through
SqliteStore): kept and loaded again byte for byte, written as the changes of
an interval, waited for until committed, given back when a commit fails."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.config import Config
from picloud.hub.message import Message
from picloud.hub.pubsub import PubSub
from picloud.hub.retained import Retained
from picloud.stores.sqlite.store import SqliteStore
from picloud.wire.codec import encode_publish
from tests.support.statedb import DATABASE, query, retained_data


def hub(path, interval=0.05):
    store = SqliteStore(path, config=Config(store_interval=interval))
    return store, PubSub(MemoryBroker(), retained=Retained(store))


def read_only(store, on=True):
    """The disk refuses every write from now on (a read-only card), or allows them again."""
    store.db.on_writer(lambda conn: conn.execute(f"PRAGMA query_only={int(on)}"))


def test_values_are_kept_and_loaded_again(tmp_path):
    path = tmp_path / "state" / DATABASE

    async def fill():
        store, pubsub = hub(path)
        pubsub.publish("a", {"v": 1}, retain=True)
        pubsub.publish("b", "gone", retain=True)
        pubsub.publish("b", None, retain=True)  # clears
        pubsub.publish("c", "not retained")
        await pubsub.retained.stored()
        assert retained_data(path) == {"a": {"v": 1}}  # committed once stored() resolves
        before = pubsub.retained.get("a")
        await store.close()
        return before

    before = asyncio.run(fill())

    async def load():
        store = SqliteStore(path)
        again = Retained(store)
        await store.close()
        return again

    again = asyncio.run(load())
    assert [m.event for m in again.items()] == ["a"]
    value = again.get("a")
    assert (value.payload, value.seq, value.from_retained) == (before.payload, before.seq, True)
    assert json.loads(value.payload)["retained"] is True
    # Closed, the WAL is checkpointed into the database: one file, nothing beside it.
    assert [p.name for p in path.parent.iterdir()] == [DATABASE]


def test_mqtt_values_keep_their_bytes_and_qos(tmp_path):
    path = tmp_path / DATABASE

    async def fill():
        store, pubsub = hub(path)
        for event, raw, qos in [("tele/plug", b'{"Power":21.50}', 1), ("stat/raw", b"\x00\xff", 0),
                                ("plain", None, 0)]:
            message = Message(event, encode_publish(event, 1))
            message.raw, message.qos = raw, qos
            pubsub.retained.update(message)
        await store.stored()
        await store.close()

    asyncio.run(fill())

    async def load():
        store = SqliteStore(path)
        values = {m.event: (m.raw, m.qos) for m in Retained(store).items()}
        await store.close()
        return values

    assert asyncio.run(load()) == {"tele/plug": (b'{"Power":21.50}', 1), "stat/raw": (b"\x00\xff", 0),
                                   "plain": (None, 0)}


def test_writes_are_coalesced_into_one_transaction_an_interval(tmp_path):
    async def burst():
        store, pubsub = hub(tmp_path / DATABASE, interval=0.2)
        waiters = []
        for i in range(100):
            pubsub.publish("sensor", i, retain=True)
            waiters.append(store.stored())
            if i % 10 == 0:
                await asyncio.sleep(0.01)  # a burst spread over part of the interval
        await asyncio.gather(*waiters)
        writes = store.writes
        await store.close()
        return writes

    assert asyncio.run(burst()) <= 2


def test_an_interval_writes_the_values_that_changed_not_the_whole_set(tmp_path):
    async def run():
        store, pubsub = hub(tmp_path / DATABASE)
        for n in range(500):
            pubsub.publish(f"room/{n}", n, retain=True)
        await store.stored()
        statements = []
        store.db.on_writer(lambda conn: conn.set_trace_callback(statements.append))
        pubsub.publish("room/7", "seven", retain=True)
        pubsub.publish("room/8", None, retain=True)
        await store.stored()
        store.db.on_writer(lambda conn: conn.set_trace_callback(None))
        await store.close()
        return statements

    statements = asyncio.run(run())
    writes = [s for s in statements if s.split()[0] in ("INSERT", "DELETE", "UPDATE", "REPLACE")]
    assert len(writes) == 2, writes
    assert writes[0].startswith("DELETE FROM retained") and "'room/8'" in writes[0]
    assert writes[1].startswith("INSERT INTO retained") and "'room/7'" in writes[1]
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1


def test_stored_waits_for_the_commit_that_holds_the_change(tmp_path):
    path = tmp_path / DATABASE

    async def run():
        store, pubsub = hub(path, interval=0.3)
        pubsub.publish("t", 1, retain=True)
        await store.stored()
        pubsub.publish("t", 2, retain=True)
        waiter = store.stored()
        await asyncio.sleep(0)
        assert not waiter.done() and retained_data(path) == {"t": 1}  # not yet committed
        await waiter
        assert retained_data(path) == {"t": 2}
        assert store.stored().done()  # nothing new: at once
        await store.close()

    asyncio.run(run())


def test_a_failed_commit_gives_back_what_it_could_not_keep_and_logs_once(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / DATABASE

    async def run():
        store, pubsub = hub(path, interval=0.01)
        retained = pubsub.retained
        pubsub.publish("kept", 1, retain=True)
        await retained.stored()
        read_only(store)
        failures = []
        # The hub's own presence value: true in memory whatever the disk says.
        presence = Message("$SYS/clients/x", encode_publish("$SYS/clients/x", {"online": True}))
        retained.update(presence)
        for n in range(3):
            pubsub.publish("kept", 2 + n, retain=True)
            pubsub.publish(f"new-{n}", n, retain=True)
            try:
                await retained.stored()
            except OSError as exc:
                failures.append(str(exc))
        with pytest.raises(OSError, match="cannot store retained value"):
            await retained.stored()  # asked again, after the give-back: still not kept
        # Memory holds what the disk holds: the first value, and no new event.
        assert json.loads(retained.get("kept").payload)["data"] == 1
        assert sorted(m.event for m in retained.items()) == ["$SYS/clients/x", "kept"] and retained.count == 1
        read_only(store, on=False)
        pubsub.publish("after", 1, retain=True)
        await retained.stored()  # the disk is back: written, presence with it
        await store.close()
        return failures

    failures = asyncio.run(run())
    assert len(failures) == 3 and all(f.startswith("cannot store retained value: ") for f in failures)
    assert "readonly" in failures[0]
    assert retained_data(path) == {"kept": 1, "$SYS/clients/x": {"online": True}, "after": 1}
    lines = [r.getMessage() for r in caplog.records]
    # One log line for a failing disk, not one per write; one when it is back.
    assert sum("cannot write retained values" in line for line in lines) == 1
    assert sum(line == f"retained values written to {path} again" for line in lines) == 1


def test_a_change_after_the_shutdown_write_is_not_acknowledged(tmp_path):
    async def run():
        store, pubsub = hub(tmp_path / DATABASE, interval=30)
        pubsub.publish("t", 1, retain=True)
        before = store.stored()
        await store.close()  # writes what is pending now
        await before
        pubsub.publish("t", 2, retain=True)
        with pytest.raises(OSError, match="the hub is shutting down"):
            await store.stored()

    asyncio.run(run())
    assert retained_data(tmp_path / DATABASE) == {"t": 1}


def test_the_table_holds_one_row_per_event(tmp_path):
    async def run():
        store, pubsub = hub(tmp_path / DATABASE)
        for n in range(5):
            pubsub.publish("t", n, retain=True)
            await store.stored()
        await store.close()

    asyncio.run(run())
    assert query(tmp_path / DATABASE, "SELECT event, seq FROM retained") == [("t", 5)]
