"""Sequence numbers, epochs and kept messages (picloud/hub/history.py), through
PubSub without sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picloud.brokers.memory import MemoryBroker
from picloud.hub.history import History
from picloud.hub.pubsub import PubSub


class Conn:
    def __init__(self):
        self.got = []

    def deliver(self, message):
        self.got.append(json.loads(message.payload))


def test_seq_counts_per_event_and_is_in_the_frame():
    pubsub = PubSub(MemoryBroker(), history=History(epoch="e1"))
    sub = Conn()
    pubsub.subscribe(sub, "a")
    pubsub.subscribe(sub, "b")
    for event in "aab":
        pubsub.publish(event, 1)
    got = [(m["event"], m["seq"], m["epoch"]) for m in sub.got]
    assert got == [("a", 1, "e1"), ("a", 2, "e1"), ("b", 1, "e1")]
    assert list(sub.got[0])[:4] == ["action", "event", "data", "created_at"]


def test_since_replays_what_is_kept_and_says_if_complete():
    history = History(size=3, epoch="e")
    pubsub = PubSub(MemoryBroker(), history=history)
    for i in range(5):
        pubsub.publish("t", i)
    seqs = lambda messages: [m.seq for m in messages]  # noqa: E731
    messages, recovered = history.since("t", 2, "e")
    assert (seqs(messages), recovered) == ([3, 4, 5], True)
    messages, recovered = history.since("t", 1, "e")  # seq 2 is gone
    assert (seqs(messages), recovered) == ([3, 4, 5], False)
    assert history.since("t", 5, "e") == ([], True)
    messages, recovered = history.since("t", 4, "other")
    assert (seqs(messages), recovered) == ([3, 4, 5], False)
    assert history.since("t", 9, "e")[1] is False
    assert seqs(history.query("t", 3, 1)) == [4]


def test_size_zero_keeps_nothing_but_still_counts():
    history = History(size=0, epoch="e")
    pubsub = PubSub(MemoryBroker(), history=history)
    pubsub.publish("t", 1)
    pubsub.publish("t", 2)
    assert history.last_seq("t") == 2
    assert history.since("t", 2, "e") == ([], True)
    assert history.since("t", 1, "e") == ([], False)


def test_ttl_drops_old_messages():
    history = History(size=10, ttl=60, epoch="e")
    pubsub = PubSub(MemoryBroker(), history=history)
    pubsub.publish("t", 1)
    pubsub.publish("t", 2)
    kept = history._kept["t"]
    kept[0] = (kept[0][0] - 120, *kept[0][1:])  # the first one is two minutes old
    messages, recovered = history.since("t", 0, "e")
    assert ([m.seq for m in messages], recovered) == ([2], False)


def test_epochs_differ_between_histories():
    assert History().epoch != History().epoch


def test_batch_refused_half_way_leaves_no_gap():
    pubsub = PubSub(MemoryBroker())
    ok = pubsub.prepare("t", 1)
    with pytest.raises(Exception):  # noqa: B017
        pubsub.prepare("t", float("nan"))
    pubsub.publish_message(ok)
    pubsub.publish("t", 2)
    assert [m.seq for m in pubsub.history.query("t", 0, 10)] == [1, 2]


def test_events_past_the_limit_are_forgotten_least_recently_published_first():
    history = History(size=5, epoch="e", events=2)
    pubsub = PubSub(MemoryBroker(), history=history)
    for event in ("a", "b", "b", "a", "c"):  # c is one too many: b was published least recently
        pubsub.publish(event, event)
    assert sorted(history._seq) == sorted(history._kept) == ["a", "c"]
    assert history.forgotten_events == 1
    assert history.last_seq("b") == 0
    assert history.since("b", 2, "e") == ([], False)  # nothing to recover from

    again = pubsub.publish("b", "again")  # goes on above what was forgotten; a is forgotten now
    assert again.seq == 3 and json.loads(again.payload)["seq"] == 3
    assert sorted(history._seq) == ["b", "c"] and history.forgotten_events == 2
    assert history.since("b", 2, "e") == ([again], True)  # 3 follows 2: b lost nothing
    assert pubsub.publish("a", "x").seq == 3  # above the 2 a had
    assert sorted(history._seq) == ["a", "b"] and history.forgotten_events == 3


def test_a_forgotten_event_never_reuses_a_seq_a_subscriber_has_seen():
    history = History(size=5, epoch="e", events=1)
    pubsub = PubSub(MemoryBroker(), history=history)
    for _ in range(4):
        pubsub.publish("a", 1)  # a reaches 4
    pubsub.publish("b", 1)  # forgets a
    assert pubsub.publish("a", 2).seq == 5  # above the 4 a subscriber of "a" may have seen
    messages, recovered = history.since("a", 2, "e")  # 3 and 4 are gone
    assert ([m.seq for m in messages], recovered) == ([5], False)


def kept_bytes(history: History) -> int:
    return sum(len(m.payload) for kept in history._kept.values() for _, m, _ in kept)


def test_kept_messages_fit_the_byte_budget_least_recently_published_first():
    history = History(size=100, max_bytes=4000, epoch="e1")
    pubsub = PubSub(MemoryBroker(), history=history)
    for _ in range(10):
        pubsub.publish("old", "x" * 100)
    size = len(history.query("old", 0, 1)[0].payload)
    for _ in range(4000 // size - 10):
        pubsub.publish("new", "y" * 100)  # just fits beside "old"
    assert history.dropped == 0
    pubsub.publish("new", "y" * 100)
    assert history.dropped == 1 and [m.seq for m in history.query("old", 0, 100)] == list(range(2, 11))
    for _ in range(20):
        pubsub.publish("new", "y" * 100)
    assert history.query("old", 0, 100) == []  # the least recently published went first, all of it
    new = history.query("new", 0, 100)
    assert new[0].seq > 1 and new[-1].seq == 4000 // size + 11  # then the oldest of the rest
    assert history.bytes == kept_bytes(history) <= 4000
    assert history.since("new", 0, "e1")[1] is False  # resuming from before what was dropped
    assert history.since("new", new[0].seq - 1, "e1")[1] is True


def test_the_byte_count_follows_every_way_a_message_leaves():
    history = History(size=3, max_bytes=10_000, events=2, epoch="e1")
    pubsub = PubSub(MemoryBroker(), history=history)
    for i in range(5):
        pubsub.publish("a", i)  # past size: the oldest pushed out
    assert history.bytes == kept_bytes(history)
    pubsub.publish("b", "b")
    pubsub.publish("c", "c")  # a third event: "a" is forgotten
    assert history.bytes == kept_bytes(history) and "a" not in history._kept
    huge = History(size=10, max_bytes=50, epoch="e1")
    PubSub(MemoryBroker(), history=huge).publish("t", "x" * 100)  # over the whole budget: not kept
    assert huge.bytes == 0 and huge.dropped == 1


def stamp_all(history: History, messages: list) -> None:
    """What the hub's accept does with one read: its runs of one event, each at once."""
    from picloud.hub.message import runs

    for run in runs(messages):
        history.stamp_run(run)


def _messages(events: list[str], size: int = 10) -> list:
    from picloud.hub.message import Message

    return [Message(event, b'{"action":"publish","event":"%s","data":"%s"}' % (event.encode(), b"x" * size))
            for event in events]


@pytest.mark.parametrize("sizes", [(3, 10_000), (2, 300), (5, 40)])
def test_runs_stamped_at_once_end_as_stamped_one_by_one(sizes):
    """The runs of one read, stamped at once, end as stamped one by one:
    seqs, payloads, what is kept, its bytes, what was dropped or forgotten."""
    size, max_bytes = sizes
    events = ["a", "a", "a", "b", "a", "a", "c", "c", "c", "c", "d", "a", "a", "a", "a", "a"]
    one, many = (History(size, 0, events=3, max_bytes=max_bytes, epoch="e") for _ in range(2))
    singles, runs = _messages(events), _messages(events)
    big = _messages(["c", "c"], size=max_bytes)  # too big to keep, still numbered
    for message in singles + big[:1]:
        one.stamp(message)
    stamp_all(many, runs[:7])
    stamp_all(many, runs[7:] + big[1:])
    assert [(m.seq, m.payload) for m in singles] == [(m.seq, m.payload) for m in runs]
    assert big[0].payload == big[1].payload
    assert one._seq == many._seq
    assert {e: [m.payload for _, m, _ in kept] for e, kept in one._kept.items()} == \
        {e: [m.payload for _, m, _ in kept] for e, kept in many._kept.items()}
    assert (one.bytes, one.dropped, one.forgotten_events) == (many.bytes, many.dropped, many.forgotten_events)
    assert all(kept for kept in many._kept.values())


def test_a_run_that_sheds_or_drops_counts_and_orders_as_one_by_one():
    """What a review found: shedding inside a run, and a run of messages
    too big to keep, end as stamped one by one (dropped, and which event's
    history goes next)."""
    def both(size, max_bytes, batches):
        one, many = (History(size, 0, max_bytes=max_bytes, epoch="e") for _ in range(2))
        for batch in batches:
            for message in _messages(*batch):
                one.stamp(message)
            stamp_all(many, _messages(*batch))
        return one, many

    # Two of 'a' kept, then a run of two more: each one by one sheds the oldest.
    shedding = both(3, 400, [(["a", "a"], 130), (["a", "a"], 130)])
    # 'a' and 'b' kept, a run of 'a' too big to keep, then 'c' sheds the least recent.
    too_big = both(3, 300, [(["a"], 60), (["b"], 60), (["a", "a"], 400), (["c"], 60)])
    for one, many in (shedding, too_big):
        assert (one.dropped, one.bytes) == (many.dropped, many.bytes)
        assert {e: [m.payload for _, m, _ in k] for e, k in one._kept.items()} == \
            {e: [m.payload for _, m, _ in k] for e, k in many._kept.items()}
    assert shedding[0].dropped == 2
    assert list(too_big[0]._kept) == list(too_big[1]._kept) == ["b", "c"]


@given(st.lists(st.tuples(st.lists(st.sampled_from("abc"), min_size=1, max_size=6), st.integers(0, 120)),
                max_size=12),
       st.integers(1, 5), st.integers(150, 2000))
def test_what_is_kept_is_counted_exactly_whatever_the_runs(batches, size, max_bytes):
    """The bytes of a run pushed out are counted by offsets, not by reading
    each payload: they must still add up to what is kept, and each entry
    must start where the one before it ends."""
    one, many = (History(size, 0, events=2, max_bytes=max_bytes, epoch="e") for _ in range(2))
    for events, length in batches:
        for message in _messages(events, length):
            one.stamp(message)
        stamp_all(many, _messages(events, length))
        for history in (one, many):
            assert history.bytes == kept_bytes(history) <= max_bytes
            for kept in history._kept.values():
                for (_, before, start), (_, _, after) in zip(kept, list(kept)[1:]):
                    assert after == start + len(before.payload)
        assert {e: [m.payload for _, m, _ in k] for e, k in one._kept.items()} == \
            {e: [m.payload for _, m, _ in k] for e, k in many._kept.items()}
        assert (one.bytes, one.dropped, one.forgotten_events) == (many.bytes, many.dropped, many.forgotten_events)


def test_a_run_that_fails_to_stamp_leaves_the_count_where_it_was():
    from picloud.hub.message import Message

    history = History(size=5, epoch="e")
    stamp_all(history, _messages(["t", "t"]))
    broken = [Message("t", b'{"a":1}'), Message("t", "not bytes")]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        stamp_all(history, broken)
    assert history.last_seq("t") == 2
    fine = _messages(["t", "t"])
    stamp_all(history, fine)
    assert [m.seq for m in fine] == [3, 4]
