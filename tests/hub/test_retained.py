"""Retained values (picloud/hub/retained.py): the retained variant is encoded once."""

from __future__ import annotations

from picloud.brokers.memory import MemoryBroker
from picloud.hub.pubsub import PubSub


class Inbox:
    def __init__(self):
        self.got = []

    def deliver(self, message):
        self.got.append(message)


def test_retained_variant_is_encoded_once_for_every_late_subscriber():
    pubsub = PubSub(MemoryBroker())

    class Inbox:
        def __init__(self):
            self.got = []

        def deliver(self, message):
            self.got.append(message)

    pubsub.publish("t", 1, retain=True)
    first, second = Inbox(), Inbox()
    for inbox in (first, second):
        pubsub.join(inbox, "t", None, lambda joined: None)
    assert first.got[0] is second.got[0]  # one Message, one frame, shared
    assert first.got[0].frame is second.got[0].frame


def test_values_past_a_quota_are_delivered_but_not_retained(caplog):
    from picloud.hub.retained import Retained

    hub = PubSub(MemoryBroker(), retained=Retained(max_count=2, max_bytes=10_000))
    inbox = Inbox()
    hub.subscribe(inbox, "#")
    hub.publish("a", 1, retain=True)
    hub.publish("b", 2, retain=True)
    hub.connect(object(), "pi", "127.0.0.1:1")  # presence: the hub's own, not counted
    refused = hub.publish("c", 3, retain=True)
    assert refused.not_retained.startswith("retained values are at their quota (2 values, 10000 bytes)")
    assert hub.retained.get("c") is None and len(inbox.got) == 3  # delivered all the same
    again = hub.publish("c", 4, retain=True)
    assert again.not_retained and hub.retained.refused == 2
    assert hub.publish("a", 5, retain=True).not_retained is None  # a replaced value takes no more room
    hub.publish("b", None, retain=True)  # cleared: room for one
    assert hub.publish("c", 6, retain=True).not_retained is None
    assert (hub.retained.count, {v.event for v in hub.retained.items()}) == (2, {"a", "c", "$SYS/clients/pi"})
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("not retained")] == [
        "not retained: 'c': retained values are at their quota (2 values, 10000 bytes): delivered, not retained"
    ]  # once per event


def test_the_retained_bytes_quota_and_the_largest_value():
    from picloud.hub.retained import Retained

    hub = PubSub(MemoryBroker(), retained=Retained(max_count=100, max_bytes=1000), max_retained_value_bytes=300)
    big = hub.publish("big", "x" * 400, retain=True)
    assert big.not_retained == "retained value over 300 bytes: delivered, not retained"
    assert hub.retained.get("big") is None
    for i in range(5):
        hub.publish(f"v{i}", "y" * 200, retain=True)
    assert hub.retained.bytes <= 1000 and hub.retained.count < 5
    assert hub.retained.bytes == sum(len(v.payload) for v in hub.retained.items())
