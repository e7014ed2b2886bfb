"""The topic tracker (picloud/hub/topics.py), fed by the hub's own delivery
path: what it keeps of each event, its bound, and rates from samples."""

from __future__ import annotations

import json

from picloud.brokers.memory import MemoryBroker
from picloud.hub.message import Message
from picloud.hub.pubsub import PubSub
from picloud.hub.topics import MAX_VALUE_BYTES, SAMPLE_EVERY, SAMPLES, TAIL_BYTES, Topics
from picloud.wire.codec import encode_publish


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Inbox:
    def __init__(self) -> None:
        self.got: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.got.append(message)


def described(topics: Topics, event: str, retained: bool = False) -> dict:
    topic = topics.get(event)
    assert topic is not None, event
    return json.loads(topics.encode(topic, retained))


def test_each_event_delivered_with_its_last_value_time_size_and_count():
    pubsub = PubSub(MemoryBroker())
    pubsub.publish("tele/plug/SENSOR", {"ENERGY": {"Power": 5}}, created_at="2026-12-01T10:00:00.000000Z")
    last = pubsub.publish("tele/plug/SENSOR", {"ENERGY": {"Power": 7}}, created_at="2026-12-01T10:00:01.000000Z")
    pubsub.publish("a", "ON")
    topics = pubsub.topics
    plug = described(topics, "tele/plug/SENSOR", retained=True)
    assert plug == {"event": "tele/plug/SENSOR", "value": {"ENERGY": {"Power": 7}}, "bytes": len(last.payload),
                    "at": "2026-12-01T10:00:01.000000Z", "count": 2, "rate": plug["rate"], "retained": True}
    assert plug["rate"] > 0
    assert [t.event for t in topics.listing()] == ["a", "tele/plug/SENSOR"]
    assert [t.event for t in topics.listing(lambda event: event != "a")] == ["tele/plug/SENSOR"]
    # The value is the frame the message already has, not a copy.
    assert topics.get("tele/plug/SENSOR").frame is last.payload


def test_what_the_hub_says_itself_and_retained_values_sent_again_are_not_tracked():
    pubsub = PubSub(MemoryBroker())
    pubsub.connect(object(), "pi", "127.0.0.1:1")  # presence: $SYS/clients/pi
    pubsub.publish("door", "open", retain=True)
    inbox, joined = Inbox(), []
    pubsub.join(inbox, "door", None, joined.append)
    assert joined[0].event == "door" and inbox.got[0].from_retained  # the catch-up went to it...
    assert [(t.event, t.count) for t in pubsub.topics.listing()] == [("door", 1)]  # ...not through deliver
    pubsub.publish("door", "shut")
    assert pubsub.topics.get("door").count == 2 and len(inbox.got) == 2


def test_a_big_value_is_left_out_but_its_size_and_time_are_kept():
    topics = Topics()
    small = Message("big", encode_publish("big", "x" * 100, "2026-12-01T10:00:00.000000Z"))
    topics.track(small)
    frame = encode_publish("big", "x" * MAX_VALUE_BYTES, "2026-12-01T10:00:02.000000Z")
    topics.track(Message("big", frame[:-1] + b',"seq":9,"epoch":"e"}'))
    topic = topics.get("big")
    assert len(topic.frame) == TAIL_BYTES  # the big frame is not kept
    doc = described(topics, "big")
    assert doc["value"] is None and doc["bytes"] == len(frame) + len(',"seq":9,"epoch":"e"')
    assert doc["at"] == "2026-12-01T10:00:02.000000Z" and doc["count"] == 2
    # A frame of exactly the limit is still a value.
    value = "y" * (MAX_VALUE_BYTES - len(encode_publish("edge", "", "2026-12-01T10:00:00.000000Z")))
    topics.track(Message("edge", encode_publish("edge", value, "2026-12-01T10:00:00.000000Z")))
    assert described(topics, "edge")["value"] == value


def test_a_frame_not_made_by_the_hub_is_parsed():
    topics = Topics()
    topics.track(Message("a", b'{"event":"a","action":"publish","created_at":"t","data":[1]}'))
    topics.track(Message("b", b"not json"))
    assert (described(topics, "a")["value"], described(topics, "a")["at"]) == ([1], "t")
    assert (described(topics, "b")["value"], described(topics, "b")["at"]) == (None, None)


def test_past_the_bound_the_least_recently_published_are_forgotten_and_counted():
    topics = Topics(max_events=3)
    for event in ("a", "b", "c", "a", "b"):  # c is now the least recently published
        topics.track(Message(event, encode_publish(event, 1)))
    topics.track(Message("d", encode_publish("d", 1)))
    assert [t.event for t in topics.listing()] == ["a", "b", "d"] and topics.forgotten == 1
    topics.track(Message("e", encode_publish("e", 1)))  # then a
    assert [t.event for t in topics.listing()] == ["b", "d", "e"] and topics.forgotten == 2
    assert len(topics) == 3


def test_rates_over_about_the_last_minute_from_samples():
    clock = Clock()
    topics = Topics(clock=clock)
    message = Message("t", encode_publish("t", 1))

    def publish(n: int) -> None:
        for _ in range(n):
            topics.track(message)

    def tick() -> None:
        clock.now += SAMPLE_EVERY
        topics.sample()

    publish(20)
    clock.now += 5
    topic = topics.get("t")
    assert topics.rate(topic) == 4.0  # before any sample: since the start
    clock.now -= 5
    for _ in range(SAMPLES - 1):  # a minute at 10 a second
        publish(100)
        tick()
    assert topics.rate(topic) == (20 + 600) / 60  # the start is the oldest sample still
    for _ in range(3):  # then silence for 30 s
        tick()
    assert topics.rate(topic) == 300 / 60  # the first 30 s of the window had 100 each
    for _ in range(SAMPLES):
        tick()
    assert topics.rate(topic) == 0.0
    assert topics.rate(topic, clock.now) == 0.0
    # An event first seen after the oldest sample: all of its messages are in the window.
    new = Message("n", encode_publish("n", 1))
    for _ in range(30):
        topics.track(new)
    clock.now += 5
    assert topics.rate(topics.get("n")) == 30 / (60 + 5)
