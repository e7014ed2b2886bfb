"""Presence (picloud/hub/presence.py) without sockets: offline after a restart,
the offline names kept within a bound, and the frames it announces."""

from __future__ import annotations

import asyncio
import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.hub.presence import MAX_OFFLINE, presence_event, presence_frame
from picloud.hub.pubsub import PubSub
from picloud.hub.retained import Retained
from picloud.stores.sqlite.database import FILE_NAME
from picloud.stores.sqlite.store import SqliteStore
from picloud.wire.codec import encode_publish, loads


def test_presence_from_before_a_restart_is_marked_offline(tmp_path):
    path = tmp_path / FILE_NAME

    async def run():
        store = SqliteStore(path)
        pubsub = PubSub(MemoryBroker(), retained=Retained(store))
        pubsub.connect(object(), "pi", "127.0.0.1:1")
        await store.stored()
        await store.close()
        again = SqliteStore(path)
        value = PubSub(MemoryBroker(), retained=Retained(again)).retained.get("$SYS/clients/pi")
        await again.close()
        return value

    value = json.loads(asyncio.run(run()).payload)
    assert value["data"]["online"] is False


def test_presence_forgets_the_longest_offline_names_past_the_cap():
    pubsub = PubSub(MemoryBroker())
    for n in range(MAX_OFFLINE + 3):
        conn = object()
        pubsub.connect(conn, f"page-{n}", "127.0.0.1:1")
        pubsub.disconnect(conn)
    kept = {value.event for value in pubsub.retained.items("$SYS/clients/+")}
    assert len(kept) == MAX_OFFLINE
    assert not kept & {f"$SYS/clients/page-{n}" for n in range(3)}
    assert f"$SYS/clients/page-{MAX_OFFLINE + 2}" in kept
    # Presence is state, not a stream: no per-name counters or history.
    assert pubsub.history.last_seq("$SYS/clients/page-4") == 0


class Inbox:
    def __init__(self) -> None:
        self.got: list[dict] = []

    def deliver(self, message) -> None:
        self.got.append(json.loads(message.payload))


class Elsewhere(MemoryBroker):
    """One hub of several, another of which holds ``names``."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)

    def elsewhere(self, client_name: str) -> bool:
        return client_name in self.names


def test_a_device_offline_is_forgotten_and_watchers_are_told():
    pubsub = PubSub(MemoryBroker())
    plug = object()
    pubsub.connect(plug, "plug", "127.0.0.1:1")
    pubsub.disconnect(plug)
    watcher = Inbox()
    pubsub.subscribe(watcher, "$SYS/clients/+")
    assert pubsub.presence.forget("plug") is True
    assert pubsub.retained.get("$SYS/clients/plug") is None
    assert [(m["event"], m["data"]) for m in watcher.got] == [("$SYS/clients/plug", None)]
    # Nothing is left of it: not even among the offline names the bound counts.
    assert "plug" not in pubsub.presence._offline


def test_a_device_online_here_or_on_another_hub_is_not_forgotten():
    pubsub = PubSub(Elsewhere("far"))
    pubsub.connect(object(), "near", "127.0.0.1:1")
    watcher = Inbox()
    pubsub.subscribe(watcher, "$SYS/clients/+")
    assert pubsub.presence.online("near") and pubsub.presence.online("far")
    assert not pubsub.presence.online("gone")
    assert pubsub.presence.forget("near") is False and pubsub.presence.forget("far") is False
    assert watcher.got == []
    assert json.loads(pubsub.retained.get("$SYS/clients/near").payload)["data"]["online"] is True


@pytest.mark.parametrize("online", [True, False, None])
@pytest.mark.parametrize("name", ["plug", "caf\u00e9 \"2\""])
def test_a_presence_frame_is_what_encode_publish_makes_of_it(online, name):
    event = presence_event(name)
    frame = presence_frame(event, online)
    created_at = loads(frame)["created_at"]
    data = None if online is None else {"online": online, "since": created_at}
    assert frame == encode_publish(event, data, created_at)
