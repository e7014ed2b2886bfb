"""Wildcard subscriptions in the hub: delivery, once per connection, info, refusals."""

from __future__ import annotations

import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import ProtocolError
from picloud.hub.pubsub import PubSub
from tests.support.hub import post, read_json, send_json, subscribed


class Conn:
    def __init__(self):
        self.got = []

    def deliver(self, message):
        self.got.append(json.loads(message.payload)["event"])


class Recorder(MemoryBroker):
    def __init__(self):
        self.calls = []

    def interest(self, event, wanted):
        self.calls.append((event, wanted))


def test_wildcards_deliver_the_concrete_event_once_per_connection():
    pubsub = PubSub(MemoryBroker())
    a, b = Conn(), Conn()
    for f in ["sensors/+/temp", "sensors/#", "sensors/kitchen/temp"]:
        pubsub.subscribe(a, f)
    pubsub.subscribe(b, "+/kitchen/+")
    assert pubsub.publish("sensors/kitchen/temp", 1) is not None
    pubsub.publish("sensors/hall", 2)
    pubsub.publish("other/kitchen/x", 3)
    assert a.got == ["sensors/kitchen/temp", "sensors/hall"]
    assert b.got == ["sensors/kitchen/temp", "other/kitchen/x"]
    assert pubsub.delivered == 4


def test_unsubscribing_the_last_filter_leaves_nothing_behind():
    broker = Recorder()
    pubsub = PubSub(broker)
    a = Conn()
    pubsub.subscribe(a, "x/+")
    pubsub.subscribe(a, "x/#")
    pubsub.unsubscribe(a, "x/+")
    pubsub.publish("x/1")
    pubsub.disconnect(a)
    pubsub.publish("x/2")
    assert a.got == ["x/1"]
    assert len(pubsub._filters) == 0
    # The broker hears the filter as given (a Redis broker subscribes broadly).
    assert broker.calls == [("x/+", True), ("x/#", True), ("x/+", False), ("x/#", False)]


def test_bad_filter_is_refused():
    with pytest.raises(ProtocolError, match="'#' must be the last level"):
        PubSub(MemoryBroker()).subscribe(Conn(), "a/#/b")


@pytest.mark.gen_test
async def test_wildcards_on_real_sockets_and_in_info(ws):
    sub = await ws("/subscribe", clientName="dash")
    await subscribed(sub, "home/+/temp", "home/#", "c#")
    pub = await ws("/publish", clientName="sensor")
    for event in ["home/kitchen/temp", "c#", "cx", "home"]:
        await send_json(pub, {"event": event, "data": 1})
    assert [(await read_json(sub))["event"] for _ in range(3)] == ["home/kitchen/temp", "c#", "home"]
    info = await ws("/info")
    snapshot = await read_json(info)
    assert [s["name"] for s in snapshot["subscriptions"]] == ["home/+/temp", "home/#", "c#"]


@pytest.mark.gen_test
async def test_publishing_to_a_wildcard_or_sys_is_refused(ws, http_client, base_url):

    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "home/+", "data": 1})
    reply = await read_json(pub)
    assert reply["action"] == "error" and "'home/+'" in reply["error"] and "wildcard" in reply["error"]
    response = await post(http_client, base_url, [{"event": "ok"}, {"event": "$SYS/clients/x", "data": 1}])
    assert response.code == 400
    assert json.loads(response.body) == {
        "error": "batch element 1: cannot publish to '$SYS/clients/x': '$SYS/' events are the hub's own",
        "index": 1,
    }
    sub = await ws("/subscribe", clientName="a")
    await send_json(sub, {"action": "subscribe", "event": "a/#/b"})
    assert (await read_json(sub)) == {"action": "error", "error": "'#' must be the last level in 'a/#/b'"}
