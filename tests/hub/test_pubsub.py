"""PubSub on its own: no sockets, no event loop."""

from __future__ import annotations

import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import ProtocolError
from picloud.hub.pubsub import PubSub


class Inbox:
    """A connection that keeps what it is given."""

    def __init__(self) -> None:
        self.messages = []

    def deliver(self, message) -> None:
        self.messages.append(message)

    def decoded(self):
        return [json.loads(m.payload) for m in self.messages]


class RecordingBroker(MemoryBroker):
    """Relays elsewhere instead of delivering here, as Redis does."""

    def __init__(self) -> None:
        self.calls = []

    def interest(self, event, wanted):
        self.calls.append((event, wanted))

    def publish(self, message):
        self.calls.append(("publish", message.event))


def test_publish_reaches_each_subscriber_once():
    hub = PubSub(MemoryBroker())
    a, b, other = Inbox(), Inbox(), Inbox()
    assert hub.subscribe(a, "t")
    assert not hub.subscribe(a, "t")  # twice delivers once
    hub.subscribe(b, "t")
    hub.subscribe(other, "T")  # events are case-sensitive
    message = hub.publish("t", 21.5, created_at="2026-11-25T21:40:13.000000Z")
    assert a.messages == [message] and b.messages == [message]
    assert other.messages == []
    assert a.decoded() == [
        {"action": "publish", "event": "t", "data": 21.5, "created_at": "2026-11-25T21:40:13.000000Z",
         "seq": 1, "epoch": hub.history.epoch}
    ]
    assert hub.published == 1 and hub.delivered == 2


def test_message_is_framed_once_for_all_subscribers():
    hub = PubSub(MemoryBroker())
    inboxes = [Inbox() for _ in range(3)]
    for inbox in inboxes:
        hub.subscribe(inbox, "t")
    hub.publish("t", "x")
    frames = {id(inbox.messages[0].frame) for inbox in inboxes}
    assert len(frames) == 1


def test_unsubscribe_and_unsubscribe_all():
    hub = PubSub(MemoryBroker())
    a = Inbox()
    hub.subscribe(a, "x")
    hub.subscribe(a, "y")
    assert hub.unsubscribe(a, "x")
    assert not hub.unsubscribe(a, "x")
    hub.publish("x")
    hub.publish("y")
    assert [m["event"] for m in a.decoded()] == ["y"]
    assert hub.unsubscribe_all(a) == 1
    hub.publish("y")
    assert len(a.messages) == 1
    assert hub.snapshot()["subscriptions"] == []


def test_disconnect_leaves_nothing_behind():
    hub = PubSub(MemoryBroker())
    a = Inbox()
    hub.connect(a, "kitchen", "127.0.0.1:5000")
    hub.subscribe(a, "x")
    hub.disconnect(a)
    hub.disconnect(a)  # idempotent
    assert hub.connection_count == 0
    assert hub.subscriber_count("x") == 0
    snap = hub.snapshot()
    assert snap["subscriptions"] == [] and snap["all_connections"] == []


def test_snapshot_lists_subscriptions_and_connections_in_order():
    hub = PubSub(MemoryBroker())
    a, b = Inbox(), Inbox()
    hub.connect(a, "kitchen", "192.168.1.20:53124")
    hub.connect(b, "garage", "192.168.1.21:40000")
    hub.subscribe(a, "temperature")
    hub.subscribe(b, "temperature")
    hub.subscribe(b, "door")
    snap = hub.snapshot()
    assert [s["name"] for s in snap["subscriptions"]] == ["temperature", "door"]
    assert [c["client_name"] for c in snap["subscriptions"][0]["connections"]] == ["kitchen", "garage"]
    first = snap["all_connections"][0]
    assert list(first) == ["client_name", "ip_address", "connected_at"]
    assert first["ip_address"] == "192.168.1.20:53124"
    assert first["connected_at"].endswith("Z")
    assert snap["created_at"].endswith("Z")


def test_bad_publish_reaches_nobody():
    hub = PubSub(MemoryBroker())
    a = Inbox()
    hub.subscribe(a, "t")
    with pytest.raises(ProtocolError):
        hub.publish("t", float("nan"))
    with pytest.raises(ProtocolError):
        hub.publish("", 1)
    assert a.messages == [] and hub.published == 0


def test_broker_hears_first_and_last_interest_and_relays():
    broker = RecordingBroker()
    hub = PubSub(broker)
    a, b = Inbox(), Inbox()
    hub.subscribe(a, "t")
    hub.subscribe(b, "t")
    hub.unsubscribe(a, "t")
    hub.disconnect(b)
    hub.publish("t", 1)
    assert broker.calls == [("t", True), ("t", False), ("publish", "t")]
