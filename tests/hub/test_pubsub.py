"""PubSub on its own: no sockets, no event loop."""

from __future__ import annotations

import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import ProtocolError
from picloud.hub.pubsub import PubSub
from picloud.wire.codec import cached_publish_head, created_at_end, publish_heads, stamp_now
from picloud.wire.scan import scan_publish_python


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


def test_publish_each_publishes_every_batch_on_its_own_in_order():
    """The frames of one read: one refused (or unparsable) leaves the others alone."""
    from picloud.wire.requests import Publication

    hub = PubSub(MemoryBroker(), max_batch=2)
    inbox = Inbox()
    hub.subscribe(inbox, "t")
    unparsable = ProtocolError("invalid json")
    outcomes = hub.publish_each([
        [Publication("t", 1)],
        unparsable,
        [Publication("t", 2, id="a"), Publication("t", float("nan"))],  # refused whole
        [Publication("t", 3, id=7)],
        [Publication("t", 4)] * 3,  # over the batch limit
        [Publication("t", 5), Publication("t", 6)],
    ])
    assert [m["data"] for m in inbox.decoded()] == [1, 3, 5, 6]
    assert [m["seq"] for m in inbox.decoded()] == [1, 2, 3, 4]  # a refused batch leaves no gap
    assert outcomes[1] is unparsable
    assert isinstance(outcomes[2], ProtocolError) and outcomes[2].index == 1
    assert str(outcomes[2]).startswith("batch element 1: ")
    assert [request_id for _, request_id in outcomes[3]] == [7]
    assert str(outcomes[4]) == "batch of 3 messages is over the limit of 2"
    assert [json.loads(m.payload)["data"] for m, _ in outcomes[5]] == [5, 6]
    assert hub.published == 4


def scanned(text, stamp):
    """What wire/scan.py's scan_publish hands publish_each for ``text`` (its
    Python reference: these tests run without the C twin too)."""
    event = json.loads(text)["event"]
    cached_publish_head(event)
    return scan_publish_python(text, publish_heads, created_at_end(stamp))


def test_publish_each_answered_only_leaves_out_what_nothing_answers():
    """Plain parts without an id and not retained publish all the same, and
    only they are left out of the outcomes."""
    from picloud.wire.requests import Publication

    hub = PubSub(MemoryBroker())
    inbox = Inbox()
    hub.subscribe(inbox, "t")
    stamp = stamp_now()
    batches = [
        scanned('{"event":"t","data":1}', stamp),  # left out
        scanned('{"event":"t","data":2,"id":"a"}', stamp),  # its ack
        scanned('{"event":"t","data":3,"retain":true}', stamp),  # retained: stored, maybe refused
        [Publication("t", 4)],  # parsed the ordinary way: kept
        scanned('{"event":"t","data":5}', stamp),  # left out
    ]
    outcomes = hub.publish_each(batches, answered_only=True, stamp=stamp)
    assert [m["data"] for m in inbox.decoded()] == [1, 2, 3, 4, 5]
    assert [m["seq"] for m in inbox.decoded()] == [1, 2, 3, 4, 5]
    answered = [[(json.loads(m.payload)["data"], i) for m, i in o] for o in outcomes]
    assert answered == [[(2, "a")], [(3, None)], [(4, None)]]
    assert len(hub.publish_each(batches)) == 5
    assert hub.published == 10


def test_join_refuses_a_subscription_over_the_limit_for_every_front_end():
    hub = PubSub(MemoryBroker(), max_subscriptions=2)
    conn, confirmed = Inbox(), []
    hub.join(conn, "a", None, confirmed.append)
    hub.join(conn, "b/+", None, confirmed.append)
    with pytest.raises(ProtocolError, match=r"too many subscriptions \(limit 2\)"):
        hub.join(conn, "c", None, confirmed.append)
    hub.join(conn, "a", None, confirmed.append)  # already subscribed: not a new one
    assert [(j.event, j.already) for j in confirmed] == [("a", False), ("b/+", False), ("a", True)]
    assert hub.subscription_count(conn) == 2


def test_join_refuses_a_subscription_over_the_hubs_total():
    hub = PubSub(MemoryBroker(), max_subscriptions=10, max_total_subscriptions=3)
    a, b = Inbox(), Inbox()
    for event in ("x", "y"):
        hub.join(a, event, None, lambda joined: None)
    hub.join(b, "x", None, lambda joined: None)
    with pytest.raises(ProtocolError, match=r"the hub has too many subscriptions \(limit 3\)"):
        hub.join(b, "z", None, lambda joined: None)
    hub.unsubscribe(a, "y")
    hub.join(b, "z", None, lambda joined: None)  # room again
    assert (hub.subscriptions, hub.subscribed_events) == (3, 2)


def _hub_with_watchers():
    from picloud.hub.recording import Recorder

    hub = PubSub(MemoryBroker())
    hub.recorder = Recorder(["#", "a"], clock=lambda: 7.0)
    return hub


def test_the_frames_of_one_read_reach_everyone_as_one_by_one():
    """publish_each's pass (Broker.publish_many, deliver_many) against
    publish_batch per frame: the same deliveries in the same order, numbers,
    recorded readings and topic counts."""
    from picloud.wire.requests import parse_publications

    frames = [json.dumps({"event": e, "data": i}) for i, e in enumerate("aaabaaccca")]
    results = []
    for together in (False, True):
        hub = _hub_with_watchers()
        exact, wild, both = Inbox(), Inbox(), Inbox()
        hub.subscribe(exact, "a")
        hub.subscribe(wild, "+")
        hub.subscribe(both, "a")
        hub.subscribe(both, "#")
        if together:
            hub.publish_each([parse_publications(frame) for frame in frames])
        else:
            for frame in frames:
                hub.publish_batch(parse_publications(frame))
        taken = hub.recorder.take()
        topics = {event: (t.count, t.frame) for event, t in hub.topics._topics.items()}
        results.append((
            [[(m.event, m.seq, m.payload[:-60]) for m in inbox.messages] for inbox in (exact, wild, both)],
            hub.published, hub.delivered, hub.delivered_bytes, list(taken.events),
            [frame[:-60] for frame in taken.frames], {e: (c, f[:-60]) for e, (c, f) in topics.items()},
            hub.topics.messages,
        ))
    assert results[0] == results[1]
    assert [seq for _, seq, _ in results[1][0][0]] == [1, 2, 3, 4, 5, 6]


def test_the_scanners_parts_publish_as_the_parsed_frame():
    """What wire/scan.py hands publish_each (a tuple) becomes the message the
    ordinary parse makes, rights and retain included."""
    from picloud.hub.rights import Permissions
    from picloud.wire.requests import parse_publications

    hub = PubSub(MemoryBroker())
    inbox = Inbox()
    hub.subscribe(inbox, "#")
    rights = Permissions(("sensors/#",), "dev")
    stamp = stamp_now()
    outcomes = hub.publish_each([
        scanned('{"event":"sensors/t","data":21.5,"id":7}', stamp),
        scanned('{"event":"lights/l","data":1,"id":"x"}', stamp),
        scanned('{"event":"sensors/r","data":"on","retain":true}', stamp),
        scanned('{"event":"sensors/r","data":null,"retain":true}', stamp),
        parse_publications('{"event":"sensors/t","data":22}'),
    ], rights, stamp=stamp)
    assert isinstance(outcomes[1], ProtocolError) and outcomes[1].id == "x"
    assert "may not publish to 'lights/l'" in str(outcomes[1])
    (first, first_id), = outcomes[0]
    assert first_id == 7 and not first.retain
    assert [m.retain for m, _ in outcomes[2]] == [True] and not outcomes[2][0][0].clears
    assert outcomes[3][0][0].clears
    assert [d["data"] for d in inbox.decoded()] == [21.5, "on", None, 22]
    assert [d["seq"] for d in inbox.decoded()] == [1, 1, 2, 2]
    assert hub.retained.get("sensors/r") is None
    # The messages of one read share one created_at, scanned or parsed: they
    # arrived together, and an event's times never go back as its seq goes on.
    assert len({d["created_at"] for d in inbox.decoded()}) == 1
