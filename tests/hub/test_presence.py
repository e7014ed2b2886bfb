"""Presence (picloud/hub/presence.py) without sockets: offline after a restart,
and the offline names kept within a bound."""

from __future__ import annotations

import asyncio
import json

from picloud.brokers.memory import MemoryBroker
from picloud.hub.presence import MAX_OFFLINE
from picloud.hub.pubsub import PubSub
from picloud.hub.retained import Retained
from picloud.stores.files import FILE_NAME, FileStore


def test_presence_from_before_a_restart_is_marked_offline(tmp_path):
    path = tmp_path / FILE_NAME

    async def run():
        store = FileStore(path)
        pubsub = PubSub(MemoryBroker(), retained=Retained(store))
        pubsub.connect(object(), "pi", "127.0.0.1:1")
        await store.stored()
        return PubSub(MemoryBroker(), retained=Retained(FileStore(path))).retained.get("$SYS/clients/pi")

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
