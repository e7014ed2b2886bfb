"""Wildcard subscriptions (picloud/hub/subscriptions.py): delivery once per
connection, nothing left behind, bad filters refused."""

from __future__ import annotations

import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import ProtocolError
from picloud.hub.pubsub import PubSub


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


def test_listing_gives_what_changed_since_it_last_asked():
    pubsub = PubSub(MemoryBroker())
    a, b, c = Conn(), Conn(), Conn()
    pubsub.connect(a, "a", "10.0.0.1:1")
    pubsub.subscribe(a, "t")
    # Nothing is tracked until the first call, which lists everything.
    assert [(r["client_name"], r["events"]) for r in pubsub.listing().values()] == [("a", ["t"])]
    assert pubsub.listing() == {}  # idle: nothing to write

    pubsub.connect(b, "b", "10.0.0.1:2")
    pubsub.subscribe(a, "u")
    changed = pubsub.listing()
    assert sorted((r["client_name"], r["events"]) for r in changed.values()) == [("a", ["t", "u"]), ("b", [])]
    (b_id,) = [rid for rid, r in changed.items() if r["client_name"] == "b"]

    pubsub.disconnect(b)
    pubsub.connect(c, "c", "10.0.0.1:3")
    pubsub.disconnect(c)  # came and went between two calls: only its removal
    changed = pubsub.listing()
    assert changed[b_id] is None and [r for r in changed.values() if r] == []
    assert len(changed) == 2
    assert [r["client_name"] for r in pubsub.listing(full=True).values()] == ["a"]


def test_a_held_event_stays_asked_for_whoever_subscribes_and_leaves():
    from picloud.hub.subscriptions import Subscriptions

    asked: list[tuple[str, bool]] = []
    subs = Subscriptions(lambda event, wanted: asked.append((event, wanted)))
    subs.hold("house/#")
    subs.hold("house/#")
    assert asked == [("house/#", True)]
    conn = type("Conn", (), {"deliver": lambda self, message: None})()
    subs.subscribe(conn, "house/#")
    subs.unsubscribe(conn, "house/#")
    subs.subscribe(conn, "other")
    subs.disconnect(conn)
    assert asked == [("house/#", True), ("other", True), ("other", False)]
    assert subs.subscriptions == 0 and subs.subscribed_events == 0
