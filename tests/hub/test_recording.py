"""Which messages are recorded (picloud/hub/recording.py), through the hub's
own delivery path."""

from __future__ import annotations

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import ProtocolError
from picloud.hub.message import Message
from picloud.hub.pubsub import PubSub
from picloud.hub.recording import Recorder


def hub(recorder: Recorder) -> PubSub:
    pubsub = PubSub(MemoryBroker())
    pubsub.recorder = recorder
    return pubsub


def test_everything_outside_sys_with_the_default_pattern():
    recorder = Recorder(["#"], clock=lambda: 5.0)
    pubsub = hub(recorder)
    pubsub.publish("kitchen/temp", 21.5)
    pubsub.publish("plain", {"a": 1})
    pubsub.deliver(Message("$SYS/clients/x", b'{"event":"$SYS/clients/x","data":{}}'))
    taken = recorder.take()
    assert [(t, event) for t, event, _ in taken] == [(5.0, "kitchen/temp"), (5.0, "plain")]
    assert b'"data":21.5' in taken.frames[0]
    assert len(recorder.take()) == 0 and recorder.pending_bytes == 0


def test_patterns_choose_and_each_message_is_taken_once():
    recorder = Recorder(["sensors/+/temp", "door", "sensors/+/temp"])
    pubsub = hub(recorder)
    for event in ("sensors/a/temp", "sensors/a/hum", "door", "doors", "sensors/b/temp"):
        pubsub.publish(event, 1)
    assert recorder.take().events == ["sensors/a/temp", "door", "sensors/b/temp"]
    assert recorder.patterns == ("sensors/+/temp", "door")


def test_a_retained_value_sent_again_is_not_a_new_reading():
    recorder = Recorder(["#"])
    message = Message("a", b'{"event":"a","data":1}')
    message.from_retained = True
    recorder(message)
    assert len(recorder.take()) == 0


def test_past_the_pending_bound_new_messages_are_counted_not_kept():
    recorder = Recorder(["#"], max_pending_bytes=400)
    pubsub = hub(recorder)
    for _ in range(10):
        pubsub.publish("e", "x" * 20)
    kept = recorder.take()
    assert 0 < len(kept) < 10
    assert recorder.dropped == 10 - len(kept)
    pubsub.publish("e", "x")  # room again once the store took them
    assert len(recorder.take()) == 1


def test_the_store_is_told_when_a_first_message_waits():
    calls = []
    recorder = Recorder(["#"])
    recorder.on_pending = lambda: calls.append(1)
    pubsub = hub(recorder)
    pubsub.publish("a", 1)
    pubsub.publish("a", 2)
    assert calls == [1]
    recorder.take()
    pubsub.publish("a", 3)
    assert calls == [1, 1]


def test_a_malformed_pattern_is_refused():
    with pytest.raises(ProtocolError):
        Recorder(["a/#/b"])


def test_a_run_without_numbers_is_counted_not_queued_and_a_run_with_them_is_queued_whole():
    recorder = Recorder(["#"], clock=lambda: 9.0)
    pubsub = hub(recorder)
    pubsub.publish_each([[_publication("state", "ON")] for _ in range(5)]
                        + [[_publication("temp", 20 + i)] for i in range(3)]
                        + [[_publication("list", [1])], [_publication("list", None)]])
    taken = recorder.take()
    assert list(taken.events) == ["state", "temp", "temp", "temp", "list"]
    assert taken.more == {"state": 4, "list": 1}
    assert len(taken) == 10
    # A string that looks like a number is still a string; an object may hold numbers.
    pubsub.publish_each([[_publication("s", "5")], [_publication("s", "6")], [_publication("o", {"a": 1})],
                         [_publication("o", {"a": 2})]])
    taken = recorder.take()
    assert list(taken.events) == ["s", "o", "o"] and taken.more == {"s": 1}


def _publication(event, data):
    from picloud.wire.requests import Publication

    return Publication(event, data)
