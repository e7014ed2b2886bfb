"""What the client sends and reads, without I/O (picloud/client/wire.py): hub
URLs, and Positions: which frames the client delivers, and what it asks for
on resubscribing (the real-hub cases are in client/test_aio.py)."""

from __future__ import annotations

import pytest

from picloud.client.wire import Gap, Message, Positions, hub_urls


def frame(event: str, seq: int, epoch: str = "e1", retained: bool = False) -> Message:
    raw = {"action": "publish", "event": event, "data": seq, "seq": seq, "epoch": epoch}
    if retained:
        raw["retained"] = True
    return Message.from_frame(raw)


def confirmation(seq: int, **fields: object) -> dict:
    return {"action": "subscribed", "event": "t", "epoch": "e1", "seq": seq, **fields}


def delivered(positions: Positions, *messages: Message) -> list[tuple[int, str]]:
    return [(m.seq, m.epoch) for m in messages if positions.fresh(m)]


def test_repeats_in_the_same_epoch_are_dropped_and_a_new_epoch_starts_over():
    positions = Positions()
    assert delivered(positions, frame("t", 1), frame("t", 2), frame("t", 2), frame("t", 1)) == [(1, "e1"), (2, "e1")]
    assert positions.since("t") == {"seq": 2, "epoch": "e1"}
    # After a restart without history: the old retained value, then the new epoch.
    assert delivered(positions, frame("t", 2, retained=True), frame("t", 1, "e2")) == [(1, "e2")]
    assert positions.since("t") == {"seq": 1, "epoch": "e2"}
    assert positions.fresh(Message.from_frame({"action": "publish", "event": "$SYS/clients/a", "data": {}}))


def test_a_retained_value_before_an_unrecovered_replay_is_not_delivered_twice():
    positions = Positions()
    assert delivered(positions, frame("t", 1)) == [(1, "e1")]
    gap = positions.confirmed(confirmation(9, recovered=False))
    assert gap == Gap("t", (1, "e1"), "e1", 9)
    replay = [frame("t", 9, retained=True), *(frame("t", n) for n in range(7, 10)), frame("t", 10)]
    assert [seq for seq, _ in delivered(positions, *replay)] == [9, 7, 8, 10]


def test_recovered_is_no_gap_and_a_new_subscriber_starts_at_the_retained_value():
    positions = Positions()
    assert positions.since("t") is None
    assert delivered(positions, frame("t", 4, retained=True), frame("t", 5)) == [(4, "e1"), (5, "e1")]
    assert positions.confirmed(confirmation(5, recovered=True)) is None
    assert positions.confirmed(confirmation(5)) is None


def test_a_seq_without_epoch_is_taken_in_the_epoch_the_hub_confirms():
    positions = Positions()
    positions.start("t", (2, None))
    assert positions.since("t") == {"seq": 2, "epoch": ""}
    assert positions.confirmed(confirmation(4, recovered=False)) is None
    replay = [frame("t", 4, retained=True), *(frame("t", n) for n in range(1, 5))]
    assert delivered(positions, *replay) == [(3, "e1"), (4, "e1")]


def test_unsubscribing_a_filter_forgets_what_it_delivered_but_exact_subscriptions():
    positions = Positions()
    delivered(positions, frame("home/a", 3, retained=True), frame("home/b", 5, retained=True))
    positions.forget("home/+", exact=["home/b"])
    assert positions.since("home/a") is None
    assert positions.since("home/b") == {"seq": 5, "epoch": "e1"}
    assert delivered(positions, frame("home/a", 3, retained=True)) == [(3, "e1")]


def test_hub_urls():
    assert hub_urls("http://pi.local:9000/") == ("http://pi.local:9000", "ws://pi.local:9000")
    assert hub_urls("wss://hub/base") == ("https://hub/base", "wss://hub/base")
    assert hub_urls("pi.local:9000") == ("http://pi.local:9000", "ws://pi.local:9000")
    with pytest.raises(ValueError, match="ftp"):
        hub_urls("ftp://x")
