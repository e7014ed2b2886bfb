"""Retained values kept in one JSON file (picloud/stores/files.py): persisted,
reloaded, writes coalesced, an unreadable file moved aside."""

from __future__ import annotations

import asyncio
import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import ConfigError
from picloud.hub.message import Message
from picloud.hub.pubsub import PubSub
from picloud.hub.retained import Retained
from picloud.stores.files import FILE_NAME, FileStore, check_writable
from picloud.wire.codec import encode_publish


def test_store_persists_and_reloads(tmp_path):
    path = tmp_path / "state" / FILE_NAME

    async def fill():
        pubsub = PubSub(MemoryBroker(), retained=Retained(FileStore(path, interval=0.05)))
        pubsub.publish("a", {"v": 1}, retain=True)
        pubsub.publish("b", "gone", retain=True)
        pubsub.publish("b", None, retain=True)  # clears
        pubsub.publish("c", "not retained")
        await pubsub.retained.stored()

    asyncio.run(fill())
    again = Retained(FileStore(path))
    assert [json.loads(m.payload)["data"] for m in again.items()] == [{"v": 1}]
    assert json.loads(again.get("a").payload)["retained"] is True
    assert list(tmp_path.joinpath("state").iterdir()) == [path]  # no temporary file left


def test_writes_are_coalesced(tmp_path):
    async def burst():
        store = FileStore(tmp_path / FILE_NAME, interval=0.2)
        pubsub = PubSub(MemoryBroker(), retained=Retained(store))
        for i in range(100):
            pubsub.publish("sensor", i, retain=True)
            if i % 10 == 0:
                await asyncio.sleep(0.01)
        await store.stored()
        return store.writes

    assert asyncio.run(burst()) <= 2


def test_unreadable_file_is_moved_aside(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text('{"retained": [')
    store = Retained(FileStore(path))
    assert len(store) == 0
    assert (tmp_path / (FILE_NAME + ".unreadable")).read_text() == '{"retained": ['


def test_temporary_files_a_crash_left_are_removed_at_start(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    stale = tmp_path / f".{FILE_NAME}.k2j4x9.tmp"
    stale.write_bytes(b"x" * 1000)  # a write cut short
    other = tmp_path / ".other.json.k2j4x9.tmp"
    other.write_text("not ours")
    FileStore(path)
    assert not stale.exists() and other.exists()
    assert [r.getMessage() for r in caplog.records if r.name == "picloud.store"] == [
        f"removed {stale} (1000 bytes), left by a write that did not finish"
    ]


def test_a_failed_write_gives_back_what_it_could_not_keep_and_logs_once(tmp_path, caplog):
    state = tmp_path / "state"
    path = state / FILE_NAME

    async def run():
        retained = Retained(FileStore(path, interval=0.01))
        pubsub = PubSub(MemoryBroker(), retained=retained)
        pubsub.publish("kept", 1, retain=True)
        await retained.stored()
        # The state directory becomes a file: every write fails from now on.
        path.unlink()
        state.rmdir()
        state.write_text("")
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
        return retained, failures

    retained, failures = asyncio.run(run())
    assert len(failures) == 3 and all(f.startswith("cannot store retained value") for f in failures)
    # Memory holds what the disk held: the first value, and no new event.
    assert json.loads(retained.get("kept").payload)["data"] == 1
    assert sorted(m.event for m in retained.items()) == ["$SYS/clients/x", "kept"] and retained.count == 1
    # One log line for a failing disk, not one per write.
    assert sum("cannot write retained values" in r.getMessage() for r in caplog.records) == 1


def test_a_state_directory_that_cannot_be_written_is_one_clear_error(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("")  # where the directory should be, a file
    with pytest.raises(ConfigError, match=r"cannot write in the state directory .*: not a directory \(retained"):
        check_writable(blocker / "sub")
