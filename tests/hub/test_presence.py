"""The opt-in: old clients see only publish frames (and error replies);
``?protocol=2`` clients get confirmations; ids get acks; presence."""

from __future__ import annotations

import asyncio
import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.config import Config
from picloud.hub.presence import MAX_OFFLINE
from picloud.hub.pubsub import PubSub
from picloud.hub.retained import Retained
from picloud.stores.files import FILE_NAME, FileStore
from tests.support.hub import KEY, read_json, send_json


@pytest.fixture
def config(tmp_path):
    # Short write interval: a retained publish is acked once on disk.
    return Config(api_key=KEY, state_dir=tmp_path / "state", info_interval=0.2, retain_interval=0.05)


async def frames_until_error(conn):
    """Every frame up to and including the next error reply."""
    frames = []
    while True:
        frame = await read_json(conn)
        frames.append(frame)
        if frame["action"] == "error":
            return frames


@pytest.mark.gen_test
async def test_old_client_never_sees_a_non_publish_frame(ws, app):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 0, "retain": True, "id": 1})
    assert await read_json(pub) == {"action": "ack", "id": 1}
    old = await ws("/subscribe", clientName="old-device")  # no protocol=2
    epoch = app.state.pubsub.history.epoch
    requests = [
        {"action": "subscribe", "event": "t"},  # retained value comes first
        {"action": "subscribe", "event": "t"},  # twice: nothing
        {"action": "subscribe", "event": "x", "since": {"seq": 0, "epoch": "old"}},
        {"action": "subscribe", "event": "$SYS/clients/+"},
        {"action": "subscribe", "event": "t/#", "id": 9},
        {"action": "unsubscribe", "event": "nothing"},
        {"action": "unsubscribe", "event": "t/#"},
        {"action": "subscribe", "event": "y", "since": {"seq": 0, "epoch": epoch}},
    ]
    for request in requests:
        await send_json(old, request)
    await old.write_message("barrier")
    frames = await frames_until_error(old)
    await send_json(pub, {"event": "t", "data": 1, "action": "publish"})  # as the browser client sends
    await send_json(pub, {"event": "t/x", "data": 2})
    await send_json(old, {"action": "unsubscribe:all"})
    await old.write_message("barrier")
    frames += await frames_until_error(old)
    errors = [f for f in frames if f["action"] != "publish"]
    assert [e["action"] for e in errors] == ["error", "error"], frames
    assert not any("event" in e for e in errors)
    events = [(f["event"], f["data"]) for f in frames if f["action"] == "publish"]
    # t's retained value, presence values, t's retained value again (t/# matches t), then live.
    assert events[0] == ("t", 0)
    assert dict(events[1:3])["$SYS/clients/old-device"]["online"] is True
    assert events[3:] == [("t", 0), ("t", 1)]


@pytest.mark.gen_test
async def test_old_publisher_gets_nothing_without_an_id(ws):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 1})
    await send_json(pub, {"event": "t", "data": 2, "retain": True})
    await send_json(pub, [{"event": "t"}, {"event": "u"}])
    await pub.write_message("not json")
    assert (await read_json(pub))["action"] == "error"


@pytest.mark.gen_test
async def test_protocol2_confirms_and_echoes_ids(ws, app):
    sub = await ws("/subscribe", clientName="new", protocol=2)
    epoch = app.state.pubsub.history.epoch
    await send_json(sub, {"action": "subscribe", "event": "t", "id": "s1"})
    confirm = await read_json(sub)
    assert confirm == {"action": "subscribed", "event": "t", "id": "s1", "epoch": epoch, "seq": 0}
    await send_json(sub, {"action": "subscribe", "event": "t"})
    assert await read_json(sub) == {"action": "subscribed", "event": "t", "already": True}
    await send_json(sub, {"action": "subscribe", "event": "a/+", "id": 2})
    assert await read_json(sub) == {"action": "subscribed", "event": "a/+", "id": 2}
    await send_json(sub, {"action": "unsubscribe", "event": "t", "id": 3})
    assert await read_json(sub) == {"action": "unsubscribed", "event": "t", "id": 3, "was": True}
    await send_json(sub, {"action": "unsubscribe:all"})
    assert await read_json(sub) == {"action": "unsubscribed:all", "count": 1}
    await send_json(sub, {"action": "subscribe", "event": "", "id": 5})
    assert await read_json(sub) == {"action": "error", "error": "'event' must not be empty", "id": 5}
    await send_json(sub, {"action": "subscribe", "event": "t", "id": [1]})
    error = await read_json(sub)
    assert error == {"action": "error", "error": "'id' must be a string or an integer, not an array"}


@pytest.mark.gen_test
async def test_acks_and_errors_carry_the_id(ws):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 1, "id": 7})
    assert await read_json(pub) == {"action": "ack", "id": 7}
    await send_json(pub, {"event": "t/+", "data": 1, "id": "x"})
    reply = await read_json(pub)
    assert reply["action"] == "error" and reply["id"] == "x" and "wildcard" in reply["error"]
    await send_json(pub, [{"event": "a", "id": 1}, {"event": "b", "data": float("inf"), "id": 2}])
    reply = await read_json(pub)
    assert (reply["id"], reply["index"]) == (2, 1)
    await send_json(pub, [{"event": "a", "id": 1}, {"event": "b", "retain": True, "data": 2, "id": 2}])
    acks = [await read_json(pub) for _ in range(2)]
    assert acks == [{"action": "ack", "id": 1}, {"action": "ack", "id": 2}]


@pytest.mark.gen_test
async def test_presence_is_retained_per_client_name(ws, app):
    dash = await ws("/subscribe", clientName="dash")
    await send_json(dash, {"action": "subscribe", "event": "$SYS/clients/+"})
    own = await read_json(dash)
    assert (own["event"], own["data"]["online"], own["retained"]) == ("$SYS/clients/dash", True, True)
    pi1 = await ws("/publish", clientName="pi")
    online = await read_json(dash)
    assert (online["event"], online["data"]["online"]) == ("$SYS/clients/pi", True)
    pi2 = await ws("/subscribe", clientName="pi")  # open by the time this returns
    connections = app.state.pubsub.connection_count
    pi1.close()
    deadline = asyncio.get_running_loop().time() + 5
    while app.state.pubsub.connection_count == connections:  # the hub has no event for a peer's close
        assert asyncio.get_running_loop().time() < deadline, "close not seen"
        await asyncio.sleep(0.01)
    await dash.write_message("barrier")
    assert (await read_json(dash))["action"] == "error"  # pi is still online: nothing announced
    pi2.close()
    offline = await read_json(dash)
    assert (offline["event"], offline["data"]["online"]) == ("$SYS/clients/pi", False)
    assert offline["data"]["since"] >= online["data"]["since"]


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
