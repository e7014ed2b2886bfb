"""picloud/hub/message.py: a message as its class makes it, and the C twin
that copies a prototype's slots instead (picloud/wire/_messages.c ``like``).

The twin comes from tests/support/twins.py: the suite's PICLOUD_PURE_PYTHON=1
pass compares the two as well.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from picloud.hub import message as message_module
from picloud.hub.message import Message, like_python, new_message, runs
from picloud.wire.speedups import disabled
from tests.support.twins import messages, needs_messages

native = messages
needs_native = needs_messages


def slots(message: object) -> dict[str, Any]:
    return {name: getattr(message, name) for name in type(message).__slots__}  # type: ignore[attr-defined]


def test_new_message_is_the_twin_unless_told_not_to() -> None:
    assert (new_message is Message) == (disabled() or native is None)
    made = new_message("t", b"{}")
    assert type(made) is Message and slots(made) == slots(Message("t", b"{}"))


@needs_native
@given(st.text(max_size=20), st.binary(max_size=50))
def test_the_twin_is_what_the_class_makes(event: str, payload: bytes) -> None:
    prototype = Message("", b"")
    ours, reference = native.like(prototype, event, payload), like_python(prototype, event, payload)
    assert type(ours) is Message and slots(ours) == slots(reference)
    assert ours.event is event and ours.payload is payload
    ours.seq = 5  # its own slots, not the prototype's
    assert prototype.seq == 0 and slots(prototype) == slots(Message("", b""))


@needs_native
def test_the_twin_calls_what_is_not_all_slots_of_its_own() -> None:
    class Plain:
        def __init__(self, event: str, payload: bytes) -> None:
            self.event, self.payload = event, payload

    class Derived(Message):
        __slots__ = ("extra",)

        def __init__(self, event: str, payload: bytes) -> None:
            super().__init__(event, payload)
            self.extra = len(payload)

    plain = native.like(Plain("", b""), "a", b"xy")
    assert type(plain) is Plain and vars(plain) == {"event": "a", "payload": b"xy"}
    derived = native.like(Derived("", b""), "a", b"xy")
    assert type(derived) is Derived and derived.extra == 2 and derived.event == "a"


@needs_native
def test_the_twin_sees_a_class_changed_after_it_was_used() -> None:
    class Reading:
        __slots__ = ("event", "payload", "seq")

        def __init__(self, event: str, payload: bytes) -> None:
            self.event, self.payload, self.seq = event, payload, 0

    prototype = Reading("", b"")
    assert native.like(prototype, "a", b"1").seq == 0
    Reading.seq = property(lambda self: -1)  # type: ignore[assignment,misc]  # no longer a plain slot
    for like in (native.like, like_python):  # the class called, and its __init__ cannot set seq now
        with pytest.raises(AttributeError):
            like(prototype, "b", b"2")


@needs_native
def test_the_twin_takes_three_arguments() -> None:
    with pytest.raises(TypeError, match="3 arguments"):
        native.like(Message("", b""), "a")


def test_runs_cut_a_read_into_runs_of_one_event() -> None:
    messages = [Message(event, b"") for event in "aabaa"]
    assert [[m.event for m in run] for run in runs(messages)] == [["a", "a"], ["b"], ["a", "a"]]
    assert runs([]) == []


def test_the_prototype_is_what_init_sets() -> None:
    assert slots(message_module._PROTOTYPE) == slots(Message("", b""))
