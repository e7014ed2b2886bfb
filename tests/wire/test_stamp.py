"""picloud/wire/stamp.py and its C twin in _messages.c: the same payloads,
seqs and sums, byte for byte, on generated runs.

The twin comes from tests/support/twins.py: the suite's PICLOUD_PURE_PYTHON=1
pass compares the two as well.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picloud.wire import stamp as stamp_module
from picloud.wire.speedups import disabled
from picloud.wire.stamp import stamp_run_python
from tests.support.twins import messages, needs_messages

native = messages
needs_native = needs_messages


class _Message:
    """The two fields stamp_run reads and writes (hub/message.py's Message)."""

    __slots__ = ("payload", "seq")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.seq = 0


def test_the_hub_stamps_with_the_twin_unless_told_not_to() -> None:
    assert stamp_module.stamp_run is (stamp_run_python if disabled() or native is None else native.stamp_run)


def test_a_frame_gets_its_seq_and_tail_for_its_closing_brace() -> None:
    message = _Message(b'{"action":"publish","event":"t","data":1,"created_at":"x"}')
    assert stamp_run_python([message], 41, b',"epoch":"e"}', 7) == ([7], 7 + len(message.payload))
    assert message.payload == b'{"action":"publish","event":"t","data":1,"created_at":"x","seq":42,"epoch":"e"}'
    assert message.seq == 42


payloads = st.lists(st.binary(max_size=300), max_size=12)
seqs = st.integers(0, 2**62) | st.sampled_from([0, 9, 99, 2**63 - 2 - 12])


@needs_native
@given(payloads, seqs, st.binary(max_size=40), st.integers(0, 2**40))
def test_the_twin_is_the_reference(payloads: list[bytes], seq: int, tail: bytes, start: int) -> None:
    ours = [_Message(payload) for payload in payloads]
    reference = [_Message(payload) for payload in payloads]
    assert native.stamp_run(ours, seq, tail, start) == stamp_run_python(reference, seq, tail, start)
    assert [(m.payload, m.seq) for m in ours] == [(m.payload, m.seq) for m in reference]
    assert all(type(m.payload) is bytes and type(m.seq) is int for m in ours)


@needs_native
def test_the_twin_takes_a_tuple_and_an_empty_run() -> None:
    messages = (_Message(b"{}"), _Message(b"{}"))
    assert native.stamp_run(messages, 0, b"}", 0) == ([0, len(b'{,"seq":1}')], 2 * len(b'{,"seq":1}'))
    assert [m.seq for m in messages] == [1, 2]
    assert native.stamp_run([], 5, b"}", 3) == ([], 3)


@needs_native
def test_the_twin_refuses_what_the_hub_never_gives() -> None:
    with pytest.raises(TypeError, match="payload must be bytes, not str"):
        native.stamp_run([_Message("text")], 0, b"}", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not iterable"):
        native.stamp_run(5, 0, b"}", 0)
    with pytest.raises(OverflowError, match="seq past"):
        native.stamp_run([_Message(b"{}")], 2**63 - 1, b"}", 0)
    with pytest.raises(OverflowError, match="offset past"):
        native.stamp_run([_Message(b"{}")], 0, b"}", sys.maxsize - 2)
    with pytest.raises(TypeError):
        native.stamp_run([], 0, "}", 0)


# -- the slots read in place (_slots.h), and everything else --------------------


class _Plain:
    """Attributes in a __dict__: the ordinary attribute protocol."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.seq = 0


class _Derived(_Message):
    __slots__ = ("extra",)


class _Watched(_Message):
    """A property over the slot: it must be called, not stepped around."""

    __slots__ = ()
    seen: list[int] = []

    @property  # type: ignore[override]
    def seq(self) -> int:
        return _Message.seq.__get__(self)  # type: ignore[attr-defined,no-any-return]

    @seq.setter
    def seq(self, value: int) -> None:
        self.seen.append(value)
        _Message.seq.__set__(self, value)  # type: ignore[attr-defined]


@needs_native
def test_the_twin_takes_any_object_with_the_two_attributes() -> None:
    kinds = [_Message, _Plain, _Derived, _Watched]
    ours = [kind(b'{"n":%d}' % i) for i, kind in enumerate(kinds * 2)]
    reference = [kind(b'{"n":%d}' % i) for i, kind in enumerate(kinds * 2)]
    _Watched.seen.clear()
    assert native.stamp_run(ours, 0, b"}", 0) == stamp_run_python(reference, 0, b"}", 0)
    assert [(m.payload, m.seq) for m in ours] == [(m.payload, m.seq) for m in reference]
    assert _Watched.seen == [4, 8, 4, 8]  # the setter ran for each, in both


@needs_native
def test_the_twin_sees_a_class_changed_after_it_was_used() -> None:
    class Message:
        __slots__ = ("payload", "seq")

    def made() -> Message:
        message = Message()
        message.payload, message.seq = b"{}", 0
        return message

    first = made()
    native.stamp_run([first], 0, b"}", 0)
    Message.seq = property(lambda self: 7, lambda self, value: None)  # type: ignore[assignment,misc]
    second = made()
    native.stamp_run([second], 41, b"}", 0)
    assert first.payload == b'{,"seq":1}' and second.payload == b'{,"seq":42}' and second.seq == 7


@needs_native
def test_the_twin_raises_for_a_slot_never_set() -> None:
    message = _Message.__new__(_Message)
    with pytest.raises(AttributeError, match="payload"):
        native.stamp_run([message], 0, b"}", 0)


@needs_native
def test_the_twin_survives_a_setter_that_empties_the_run() -> None:
    """The attribute protocol may run code that changes the list being stamped."""
    run: list[Any] = []

    class Emptying(_Plain):
        def __setattr__(self, name: str, value: Any) -> None:
            object.__setattr__(self, name, value)
            if name == "seq" and value:
                run.clear()

    run.extend(Emptying(b"{}") for _ in range(3))
    kept = list(run)
    starts, end = native.stamp_run(run, 0, b"}", 0)
    assert [m.seq for m in kept] == [1, 2, 3] and len(starts) == 3 and end == 3 * len(b'{,"seq":1}')
