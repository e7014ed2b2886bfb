"""picloud/wire/_frames.c against the Python frame loop it stands in for.

The extension is imported here directly, not through speedups.load, so
that these tests compare the two in the suite's PICLOUD_PURE_PYTHON=1 pass
too. The test install builds it (gcc and python3-dev are in
etc/test-packages.txt): a missing extension fails every test here, unless
PICLOUD_PURE_PYTHON is set, the one way to install without it on purpose.
"""

from __future__ import annotations

import importlib
import os
import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picloud.hub.limits import ByteBudget
from picloud.wire import frameparser, speedups
from picloud.wire import frames as frames_module
from picloud.wire.frameparser import BINARY, CLOSE, PING, PONG, TEXT, FrameParser, unmask_python

try:
    _frames: ModuleType | None = importlib.import_module("picloud.wire._frames")
    WHY = ""
except ImportError as exc:
    _frames, WHY = None, str(exc)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def c() -> ModuleType:
    if _frames is None:
        if speedups.disabled():
            pytest.skip(f"picloud.wire._frames is not built and {speedups.DISABLE_ENV} is set: {WHY}")
        pytest.fail(f"picloud.wire._frames is not built ({WHY}): the test install builds it with gcc "
                    f"(etc/test-packages.txt), or set {speedups.DISABLE_ENV}=1 to test without it")
    return _frames


def test_the_parser_uses_it_unless_told_not_to(c: ModuleType) -> None:
    assert frameparser.native is (None if speedups.disabled() else c)


def raw(b0: int, payload: bytes = b"", mask: bytes | None = b"\x37\xfa\x21\x3d", *,
        width: int = 0, length: int | None = None) -> bytes:
    """A frame with any first byte; the length in ``width`` bits (7, 16,
    64; 0: the shortest), declared as ``length`` when given."""
    n = len(payload) if length is None else length
    width = width or (7 if n < 126 else 16 if n <= 0xFFFF else 64)
    bit = 0x80 if mask is not None else 0
    if width == 7:
        head = struct.pack("!BB", b0, bit | n)
    elif width == 16:
        head = struct.pack("!BBH", b0, bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, bit | 127, n)
    return head + (mask + unmask_python(mask, payload) if mask is not None else payload)


def both_ways(c: ModuleType, max_size: int, chunks: list[bytes], budget: int | None = None) -> list[object]:
    """Feed ``chunks`` to a parser on the C loop and one on the Python loop;
    assert they agree after every chunk; return the events."""
    fast = FrameParser(max_size, budget=ByteBudget(budget) if budget else None, native=c)
    pure = FrameParser(max_size, budget=ByteBudget(budget) if budget else None, native=None)
    seen: list[object] = []
    for chunk in chunks:
        events = fast.feed(chunk)
        expected = pure.feed(chunk)
        # The types too: b"x" == bytearray(b"x").
        assert [(k, type(v), v) for k, v in events] == [(k, type(v), v) for k, v in expected]
        assert (fast.buffered, fast.closed) == (pure.buffered, pure.closed)
        seen += events
    return seen


# -- random client streams ----------------------------------------------------

masks = st.binary(min_size=4, max_size=4)
widths = st.sampled_from([0, 0, 0, 16, 64])  # now and then a longer length field than needed
BOUNDARIES = [0, 1, 124, 125, 126, 127, 65535, 65536]
# Each refused by bytes.decode("utf-8"): overlong forms, UTF-16 surrogates,
# past U+10FFFF, stray or missing continuation bytes, bytes never used.
BAD_UTF8 = [
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf",
    b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xb0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xbf", b"\xe2\x82",
    b"\xf0\x9f\x98", b"\xfe", b"\xff", b"\xc3",
]


def sized(kind: int, n: int) -> bytes:
    """A valid payload of exactly ``n`` bytes, multi-byte characters for text."""
    return ("é" * (n // 2) + "a" * (n % 2)).encode() if kind == TEXT else bytes(range(256)) * (n // 256) + bytes(
        n % 256)


common = st.one_of(
    st.builds(lambda t, m, w: raw(0x81, t.encode(), m, width=w), st.text(max_size=300), masks, widths),
    st.builds(lambda b, m, w: raw(0x82, b, m, width=w), st.binary(max_size=300), masks, widths),
    st.builds(lambda k, n, m: raw(0x80 | k, sized(k, n), m), st.sampled_from([TEXT, BINARY]),
              st.sampled_from(BOUNDARIES), masks),
)
odd = st.one_of(
    # Text that is not UTF-8: a bad sequence amid good text, or any bytes at all.
    st.builds(lambda a, bad, b, m: raw(0x81, a.encode() + bad + b.encode(), m),
              st.text(max_size=20), st.sampled_from(BAD_UTF8), st.text(max_size=20), masks),
    st.builds(lambda b, m: raw(0x81, b, m), st.binary(max_size=40), masks),
    # Any first byte (reserved bits, no FIN, unknown opcodes, continuations), masked or not.
    st.builds(lambda b0, p, m: raw(b0, p, m), st.integers(0, 255), st.binary(max_size=40), st.none() | masks),
    st.builds(lambda k, p, m: raw(0x80 | k, p, m), st.sampled_from([PING, PONG]), st.binary(max_size=130), masks),
    st.builds(lambda code, reason, m: raw(0x80 | CLOSE, struct.pack("!H", code) + reason, m),
              st.sampled_from([1000, 1001, 1005, 1009, 2000, 3000, 4999]), st.binary(max_size=8), masks),
    # A message in fragments, with a ping between two of them.
    st.builds(lambda k, parts, m: raw(k, parts[0], m) + raw(PING | 0x80, b"x", m)
              + b"".join(raw(0, p, m) for p in parts[1:-1]) + raw(0x80, parts[-1], m),
              st.sampled_from([TEXT, BINARY]), st.lists(st.binary(max_size=30), min_size=2, max_size=4), masks),
    # A declared length up to 2**64 - 1, header only.
    st.builds(lambda k, n, m: raw(0x80 | k, b"", m, width=64, length=n), st.sampled_from([TEXT, BINARY]),
              st.sampled_from([2**16 + 1, 2**31, 2**32 + 1, 2**63, 2**64 - 1]), masks),
    st.binary(max_size=12),
)
streams = st.lists(st.one_of(common, common, odd), max_size=16).map(b"".join)
limits = st.sampled_from([0, 1, 125, 126, 300, 65535, 65536, 1 << 20, 2**40, 2**64])


def chunked(data: st.DataObject, wire: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    return [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)])]


@SETTINGS
@given(streams, limits, st.data())
def test_any_stream_in_any_chunks_gives_the_same_events(c: ModuleType, wire: bytes, max_size: int,
                                                        data: st.DataObject) -> None:
    both_ways(c, max_size, chunked(data, wire))


@SETTINGS
@given(st.lists(common, max_size=16).map(b"".join), st.data())
def test_valid_streams_give_the_same_messages(c: ModuleType, wire: bytes, data: st.DataObject) -> None:
    events = both_ways(c, 1 << 20, chunked(data, wire))
    assert all(kind in (TEXT, BINARY) for kind, _ in events)  # type: ignore[misc]


@SETTINGS
@given(streams, st.integers(100, 5000), st.data())
def test_with_a_shared_budget_too(c: ModuleType, wire: bytes, budget: int, data: st.DataObject) -> None:
    both_ways(c, 1 << 20, chunked(data, wire), budget)


# -- parse_common itself --------------------------------------------------------


def test_it_takes_common_frames_and_stops_at_the_first_other(c: ModuleType) -> None:
    events: list[object] = []
    good = raw(0x81, "héllo".encode()) + raw(0x82, b"\x00\xff") + raw(0x81)
    for stop in [raw(0x89, b"ping"), raw(0x01, b"frag"), raw(0x91, b"rsv"), raw(0x81, b"bare", None),
                 raw(0x88), raw(0x83), raw(0x80, b"cont"), raw(0x81, b"\xed\xa0\x80")]:
        data = good + stop + good
        events.clear()
        assert c.parse_common(data, 0, 100, events) == len(good)
        assert events == [(TEXT, "héllo"), (BINARY, b"\x00\xff"), (TEXT, "")]
        events.clear()
        assert c.parse_common(data, len(good) + len(stop), 100, events) == len(data)  # from any position
        assert len(events) == 3


def test_it_stops_at_an_incomplete_frame_at_every_cut(c: ModuleType) -> None:
    for n in (0, 5, 125, 126, 65535, 65536):
        frame = raw(0x82, bytes(n))
        for cut in sorted({0, 1, 2, 5, 6, 7, 9, 13, 14, len(frame) - 1}):
            if cut < len(frame):
                events: list[object] = []
                assert c.parse_common(raw(0x81) + frame[:cut], 0, 1 << 20, events) == 6
                assert events == [(TEXT, "")]


def test_the_limit_is_the_python_loops(c: ModuleType) -> None:
    events: list[object] = []
    assert c.parse_common(raw(0x82, b"x" * 300), 0, 300, events) == 308  # at the limit: taken
    assert c.parse_common(raw(0x82, b"x" * 301), 0, 300, events) == 0  # over it: Python fails it
    assert c.parse_common(raw(0x81), 0, 0, events) == 6
    assert c.parse_common(raw(0x81), 0, -1, events) == 0
    assert c.parse_common(raw(0x81), 0, -(2**70), events) == 0
    huge = raw(0x82, b"", width=64, length=2**64 - 1) + b"x" * 10
    assert c.parse_common(huge, 0, 2**80, events) == 0  # never read past the data
    assert len(events) == 2


def test_wrong_arguments_raise(c: ModuleType) -> None:
    with pytest.raises(TypeError):
        c.parse_common(bytearray(raw(0x81)), 0, 10, [])
    with pytest.raises(TypeError):
        c.parse_common(raw(0x81), 0, 10, ())
    with pytest.raises(TypeError):
        c.parse_common(raw(0x81), 0, 10)
    with pytest.raises(ValueError):
        c.parse_common(raw(0x81), 7, 10, [])
    with pytest.raises(ValueError):
        c.parse_common(raw(0x81), -1, 10, [])


def test_it_refuses_exactly_what_python_refuses_in_utf8(c: ModuleType) -> None:
    """Every 1- and 2-byte sequence; 3- and 4-byte ones for every lead byte
    from E0 to F7 with every second byte from 70 to CF (the overlong,
    surrogate and past-U+10FFFF edges are there) and the others at the
    continuation range's edges."""
    seconds, edges = range(0x70, 0xD0), (0x7F, 0x80, 0xBF, 0xC0)
    samples = [bytes([a]) for a in range(256)] + [bytes([a, b]) for a in range(256) for b in range(256)]
    samples += [bytes([a, b, d]) for a in range(0xE0, 0xF0) for b in seconds for d in edges]
    samples += [bytes([a, b, 0x80, d]) for a in range(0xF0, 0xF8) for b in seconds for d in edges]
    wrong = []
    for sample in samples:
        try:
            expected: list[object] = [(TEXT, sample.decode("utf-8"))]
        except UnicodeDecodeError:
            expected = []
        events: list[object] = []
        c.parse_common(raw(0x81, sample), 0, 100, events)
        if events != expected:
            wrong.append(sample)
    assert not wrong


def test_a_megabyte_of_tiny_frames_matches_and_does_not_crash(c: ModuleType) -> None:
    empty = raw(0x81) + raw(0x82)  # 6 bytes each, the least a masked frame takes
    one = raw(0x81, b"a") + raw(0x82, b"\x00")
    for unit in (empty, one):
        wire = unit * ((1 << 20) // len(unit))
        events = both_ways(c, 1 << 20, [wire])
        assert len(events) == 2 * ((1 << 20) // len(unit))
    # Two-byte frames, unmasked: C takes none, Python fails the first and skips the rest.
    assert both_ways(c, 1 << 20, [b"\x81\x00" * (1 << 19)])[0][1][0] == 1002  # type: ignore[index]
    # A megabyte of frames in chunks that each end inside one.
    wire = raw(0x81, b"x" * 100) * 10_000
    both_ways(c, 1 << 20, [wire[i : i + 4093] for i in range(0, len(wire), 4093)])


def test_close_after_common_frames_ends_the_stream(c: ModuleType) -> None:
    wire = raw(0x81, b"a") + raw(0x88, struct.pack("!H", 1000)) + raw(0x81, b"late")
    assert both_ways(c, 100, [wire]) == [(TEXT, "a"), (CLOSE, (1000, ""))]


# -- unmask ---------------------------------------------------------------------


@given(masks, st.binary(max_size=100))
def test_unmask_is_unmask_python(c: ModuleType, mask: bytes, data: bytes) -> None:
    out = c.unmask(mask, data)
    assert type(out) is bytes and out == unmask_python(mask, data)


def test_unmask_takes_any_buffer_and_a_4_byte_mask_only(c: ModuleType) -> None:
    data = os.urandom(1000)
    assert c.unmask(bytearray(b"abcd"), memoryview(data)) == unmask_python(b"abcd", data)
    assert c.unmask(b"abcd", memoryview(data)[3:]) == unmask_python(b"abcd", data[3:])  # unaligned
    for mask in (b"", b"abc", b"abcde"):
        with pytest.raises(ValueError):
            c.unmask(mask, b"data")


# -- text_frames ------------------------------------------------------------------


class _Message:
    """What text_frames reads and writes: hub/message.py's Message's two fields."""

    __slots__ = ("_frame", "payload")

    def __init__(self, payload: bytes, frame: bytes | None = None) -> None:
        self.payload = payload
        self._frame = frame


# Lengths at the edges of the three header sizes (125/126, 65535/65536).
payload_lengths = st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]) | st.integers(0, 300)


@given(st.lists(st.tuples(payload_lengths, st.booleans()), max_size=8))
def test_text_frames_is_text_frames_python(c: ModuleType, shapes: list[tuple[int, bool]]) -> None:
    def made() -> list[_Message]:
        return [_Message(bytes([65 + index % 26]) * length, b"kept %d" % index if framed else None)
                for index, (length, framed) in enumerate(shapes)]

    ours, reference = made(), made()
    frames = c.text_frames(ours)
    assert frames == frames_module.text_frames_python(reference)
    assert [message._frame for message in ours] == [message._frame for message in reference] == frames
    assert all(type(frame) is bytes for frame in frames)


def test_text_frames_keeps_each_frame_for_the_next_subscriber(c: ModuleType) -> None:
    messages = [_Message(b'{"a":1}'), _Message(b"x" * 200)]
    first = c.text_frames(messages)
    assert first == [frames_module.encode_frame(b'{"a":1}'), frames_module.encode_frame(b"x" * 200)]
    assert all(again is kept for again, kept in zip(c.text_frames(messages), first))
    assert c.text_frames(()) == []


def test_text_frames_refuses_what_is_not_a_message_of_bytes(c: ModuleType) -> None:
    with pytest.raises(TypeError, match="payload must be bytes, not str"):
        c.text_frames([_Message("text")])  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        c.text_frames([object()])
    with pytest.raises(TypeError, match="not iterable"):
        c.text_frames(5)
    assert frames_module.text_frames is (frames_module.text_frames_python if speedups.disabled() else c.text_frames)


def test_text_frames_takes_any_object_with_the_two_attributes(c: ModuleType) -> None:
    """Slots are read in place (_slots.h) only for what is a plain slot."""
    class Plain:
        def __init__(self, payload: bytes) -> None:
            self.payload, self._frame = payload, None

    class Watched(_Message):
        __slots__ = ()
        kept: list[bytes] = []

        @property  # type: ignore[override]
        def _frame(self) -> bytes | None:
            return _Message._frame.__get__(self)  # type: ignore[attr-defined,no-any-return]

        @_frame.setter
        def _frame(self, frame: bytes | None) -> None:
            if frame is not None:
                self.kept.append(frame)
            _Message._frame.__set__(self, frame)  # type: ignore[attr-defined]

    messages = [_Message(b"a"), Plain(b"b"), Watched(b"c")]
    assert c.text_frames(messages) == [frames_module.encode_frame(p) for p in (b"a", b"b", b"c")]
    assert [m._frame for m in messages] == [frames_module.encode_frame(p) for p in (b"a", b"b", b"c")]
    assert Watched.kept == [frames_module.encode_frame(b"c")]
    with pytest.raises(AttributeError, match="_frame"):
        c.text_frames([_Message.__new__(_Message)])


def test_text_frames_survives_a_property_that_empties_the_list(c: ModuleType) -> None:
    messages: list[Any] = []

    class Emptying:
        _frame = None

        @property
        def payload(self) -> bytes:
            messages.clear()
            return b"x"

    messages.extend(Emptying() for _ in range(3))
    assert c.text_frames(messages) == [frames_module.encode_frame(b"x")] * 3
