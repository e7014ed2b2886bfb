"""The client-frame parser (picloud/wire/frameparser.py), with bytes only."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picloud.wire.frameparser import BINARY, CLOSE, FAIL, PING, PONG, TEXT, FrameParser, parse_close
from tests.support.frames import frame


def feed_all(parser: FrameParser, data: bytes, step: int | None = None) -> list:
    if step is None:
        return parser.feed(data)
    events = []
    for i in range(0, len(data), step):
        events += parser.feed(data[i : i + step])
    return events


def test_text_and_binary_messages():
    parser = FrameParser(1 << 20)
    data = frame(TEXT, "héllo".encode()) + frame(BINARY, b"\x00\xff") + frame(TEXT)
    assert parser.feed(data) == [(TEXT, "héllo"), (BINARY, b"\x00\xff"), (TEXT, "")]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_lengths_around_the_encoding_boundaries(size):
    payload = os.urandom(size)
    parser = FrameParser(1 << 20)
    assert parser.feed(frame(BINARY, payload)) == [(BINARY, payload)]
    # The same frame split at every header boundary and inside the payload.
    data = frame(BINARY, payload)
    for cut in (1, 2, 3, 5, 9, 13, 15, len(data) - 1):
        parser = FrameParser(1 << 20)
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == [(BINARY, payload)]


def test_many_frames_in_one_chunk_and_byte_by_byte():
    data = b"".join(frame(TEXT, f'{{"n": {i}}}'.encode()) for i in range(500))
    expected = [(TEXT, f'{{"n": {i}}}') for i in range(500)]
    assert FrameParser(1 << 20).feed(data) == expected
    assert feed_all(FrameParser(1 << 20), data, step=1) == expected


def test_fragmented_text_with_control_frames_between():
    text = "€uro ünïcode"
    raw = text.encode()
    # Cut inside the three-byte euro sign, so characters span fragments.
    data = (
        frame(TEXT, raw[:1], fin=False)
        + frame(PING, b"p1")
        + frame(0, raw[1:5], fin=False)
        + frame(PONG, b"p2")
        + frame(0, raw[5:])
    )
    events = FrameParser(1 << 20).feed(data)
    assert events == [(PING, b"p1"), (PONG, b"p2"), (TEXT, text)]


def test_fragmented_binary():
    data = frame(BINARY, b"ab", fin=False) + frame(0, b"", fin=False) + frame(0, b"cd")
    assert FrameParser(1000).feed(data) == [(BINARY, b"abcd")]  # each fragment costs 64 bytes at least


def failure(events):
    assert events, "no events"
    kind, value = events[-1]
    assert kind == FAIL, events
    return value[0]


@pytest.mark.parametrize(
    "data",
    [
        frame(TEXT, b"x", mask=None),  # clients must mask
        frame(TEXT, b"x", rsv=0x40),
        frame(TEXT, b"x", rsv=0x20),
        frame(TEXT, b"x", rsv=0x10),
        frame(3, b"x"),
        frame(7, b"x"),
        frame(0xB, b"x"),
        frame(0xF, b"x"),
        frame(PING, b"x", fin=False),
        frame(PING, b"x" * 126),
        frame(CLOSE, b"\x03\xe8" + b"x" * 124),
        frame(0, b"x"),  # continuation of nothing
        frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),  # new message inside another
        frame(CLOSE, b"\x03"),
        frame(CLOSE, struct.pack("!H", 1005)),
        frame(CLOSE, struct.pack("!H", 1006)),
        frame(CLOSE, struct.pack("!H", 999)),
        frame(CLOSE, struct.pack("!H", 1015)),
        frame(CLOSE, struct.pack("!H", 2000)),
        frame(CLOSE, struct.pack("!H", 5000)),
    ],
)
def test_protocol_errors_fail_with_1002(data):
    assert failure(FrameParser(1 << 20).feed(data)) == 1002


def test_valid_close_codes_are_reported():
    for code in (1000, 1001, 1003, 1007, 1011, 1013, 3000, 4999):
        events = FrameParser(100).feed(frame(CLOSE, struct.pack("!H", code) + "bye ✓".encode()))
        assert events == [(CLOSE, (code, "bye ✓"))]
    assert FrameParser(100).feed(frame(CLOSE)) == [(CLOSE, (None, ""))]


def test_invalid_utf8_fails_with_1007():
    assert failure(FrameParser(100).feed(frame(TEXT, b"\xff"))) == 1007
    assert failure(FrameParser(100).feed(frame(TEXT, b"a\xed\xa0\x80"))) == 1007  # surrogate
    assert failure(FrameParser(100).feed(frame(CLOSE, b"\x03\xe8\xff"))) == 1007
    # Truncated character at the end of a fragmented message.
    data = frame(TEXT, b"a", fin=False) + frame(0, "€".encode()[:2])
    assert failure(FrameParser(1000).feed(data)) == 1007


def test_invalid_utf8_fails_at_the_fragment_not_the_end():
    parser = FrameParser(100)
    assert failure(parser.feed(frame(TEXT, b"ok\xc0\xaf", fin=False))) == 1007


def test_oversize_fails_with_1009_from_the_header_alone():
    parser = FrameParser(1000)
    header = frame(BINARY, b"", length=5000)
    assert failure(parser.feed(header)) == 1009
    assert parser.buffered == 0
    assert failure(FrameParser(1000).feed(frame(TEXT, b"x" * 1001))) == 1009
    assert FrameParser(1000).feed(frame(TEXT, b"x" * 1000)) == [(TEXT, "x" * 1000)]


def test_oversize_counts_every_fragment():
    data = frame(TEXT, b"x" * 600, fin=False) + frame(PING, b"") + frame(0, b"x" * 600)
    assert FrameParser(1000).feed(data) == [(PING, b""), (FAIL, (1009, "message over 1000 bytes"))]


def test_after_a_failure_the_peers_close_is_still_seen():
    parser = FrameParser(1000)
    big = frame(BINARY, b"y" * 5000)
    close = frame(CLOSE, struct.pack("!H", 1000))
    events = feed_all(parser, big + frame(TEXT, b"ignored") + close, step=700)
    assert events == [(FAIL, (1009, "message over 1000 bytes")), (CLOSE, (1000, ""))]
    assert parser.closed
    assert parser.feed(frame(TEXT, b"after")) == []


def test_events_before_a_failure_are_kept():
    data = frame(TEXT, b"one") + frame(TEXT, b"x", mask=None) + frame(TEXT, b"two")
    events = FrameParser(100).feed(data)
    assert events[0] == (TEXT, "one")
    assert events[1][0] == FAIL
    assert len(events) == 2


def test_nothing_after_close_is_parsed():
    parser = FrameParser(100)
    events = parser.feed(frame(CLOSE, struct.pack("!H", 1001)) + frame(TEXT, b"late"))
    assert events == [(CLOSE, (1001, ""))]
    assert parser.closed


def test_parse_close():
    assert parse_close(struct.pack("!H", 1009) + b"too big") == (1009, "too big")
    assert parse_close(b"") == (None, "")
    with pytest.raises(ValueError, match="1-byte"):
        parse_close(b"\x03")


# -- round trips -------------------------------------------------------------

messages = st.lists(
    st.one_of(
        st.tuples(st.just(TEXT), st.text(max_size=300)),
        st.tuples(st.just(BINARY), st.binary(max_size=300)),
        st.tuples(st.just(PING), st.binary(max_size=125)),
        st.tuples(st.just(PONG), st.binary(max_size=125)),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(messages, st.data())
def test_round_trip_with_random_fragmentation_and_chunking(items, data):
    wire = b""
    expected = []
    for kind, value in items:
        raw = value.encode() if kind == TEXT else value
        mask = data.draw(st.binary(min_size=4, max_size=4))
        if kind >= 8:
            wire += frame(kind, raw, mask=mask)
            expected.append((kind, value))
            continue
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
        for i, piece in enumerate(pieces):
            wire += frame(kind if i == 0 else 0, piece, fin=i == len(pieces) - 1, mask=mask)
            if i < len(pieces) - 1 and data.draw(st.booleans()):
                wire += frame(PING, b"between", mask=mask)
                expected.append((PING, b"between"))
        expected.append((kind, value))
    step = data.draw(st.integers(1, max(1, len(wire))))
    parser = FrameParser(1 << 16)
    assert feed_all(parser, wire, step) == expected
    assert parser.buffered == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_arbitrary_bytes_never_raise(garbage, step):
    parser = FrameParser(200)
    events = feed_all(parser, garbage, step)
    kinds = [kind for kind, _ in events]
    # At most one failure, and nothing but a close after it.
    if FAIL in kinds:
        assert kinds.count(FAIL) == 1
        assert all(k == CLOSE for k in kinds[kinds.index(FAIL) + 1 :])
    assert parser.buffered <= 200 + 14


def test_empty_fragments_cost_64_bytes_each_toward_the_limit():
    """Ten million empty continuation frames took 78 MB: now they hit the limit."""
    limit = 1024 * 1024
    parser = FrameParser(limit)
    assert parser.feed(frame(TEXT, b"a", fin=False)) == []
    empty = frame(0, b"", fin=False)
    fragments = limit // 64
    events = parser.feed(empty * (fragments - 2))
    assert events == [] and parser.buffered <= limit
    assert failure(parser.feed(empty * 2)) == 1009


def test_a_message_in_one_byte_fragments_is_held_as_one_buffer():
    parser = FrameParser(64 * 1000)
    data = frame(BINARY, b"x", fin=False) + b"".join(frame(0, b"x", fin=False) for _ in range(998)) + frame(0, b"x")
    assert parser.feed(data) == [(BINARY, b"x" * 1000)]
    assert failure(FrameParser(64 * 999).feed(data)) == 1009  # 1000 fragments, 64 bytes each


def test_parsers_share_a_budget_for_what_they_hold_and_give_it_back():
    from picloud.hub.limits import ByteBudget

    budget = ByteBudget(1000)
    first, second = FrameParser(10_000, budget=budget), FrameParser(10_000, budget=budget)
    assert first.feed(frame(BINARY, b"x" * 600)[:400]) == []  # a frame half-way
    assert budget.used == 400
    assert failure(second.feed(frame(BINARY, b"y" * 900)[:700])) == 1009  # would cross the budget
    assert budget.used == 400
    assert first.feed(frame(BINARY, b"x" * 600)[400:]) == [(BINARY, b"x" * 600)]
    assert budget.used == 0  # complete: nothing held
    third = FrameParser(10_000, budget=budget)
    assert third.feed(frame(TEXT, b"a" * 900, fin=False)) == []
    assert budget.used == 900
    third.release()  # its connection closed
    assert budget.used == 0


def test_a_big_frame_is_charged_as_it_grows_and_its_peers_close_still_found():
    from picloud.hub.limits import ByteBudget

    budget = ByteBudget(150_000)
    parser = FrameParser(1 << 20, budget=budget)
    data = frame(BINARY, b"x" * 200_000)
    step = 65536
    assert parser.feed(data[:step]) == [] and budget.used == parser.buffered == step
    events = parser.feed(data[step:2 * step]) + parser.feed(data[2 * step:3 * step])
    assert failure(events) == 1009 and budget.used == 0  # the growth crossed it
    # The rest of the frame is skipped, not read as frames: the peer's close is seen.
    assert parser.feed(data[3 * step:] + frame(CLOSE, struct.pack("!H", 1009))) == [(CLOSE, (1009, ""))]
