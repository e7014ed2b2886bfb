"""Fields cut out of a publish frame without parsing it (picloud/wire/framefields.py):
what parsing the frame would find, for any event and data."""

from __future__ import annotations

import json

import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from picloud.wire import framefields
from picloud.wire.codec import _CONTROL, dumps, encode_publish, publish_head
from picloud.wire.framefields import created_at_in, event_in, no_numbers, no_numbers_python, publish_parts
from picloud.wire.speedups import disabled
from tests.support.twins import messages

native = messages  # imported directly: the PICLOUD_PURE_PYTHON=1 pass compares the two as well

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["created_at", "a", "data"]), inner),
    max_leaves=8,
)
event_names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda name: len(name.encode()) <= 256 and not _CONTROL.search(name))


@given(event_names, json_values)
def test_the_data_and_time_are_cut_out_of_any_frame_as_parsing_would_find_them(event, data):
    frame = encode_publish(event, data, "2026-12-01T10:00:00.000001Z")
    for variant in (frame, frame[:-1] + b',"seq":7,"epoch":"e1"}', frame[:-1] + b',"retained":true}'):
        value, at = publish_parts(event, variant)
        assert json.loads(value) == json.loads(dumps(data))
        assert json.loads(at) == "2026-12-01T10:00:00.000001Z"
        assert created_at_in(variant[-80:]) == at
        assert event_in(variant) == event


def test_a_frame_made_otherwise_is_not_cut():
    frame = ujson.dumps({"event": "a", "action": "publish", "data": 1}).encode()
    assert publish_parts("a", frame) is None
    assert publish_parts("b", encode_publish("a", 1)) is None
    assert created_at_in(b'{"data":1}') is None
    assert event_in(frame) == "a"
    assert event_in(b"not json") is None and event_in(b'{"event":1}') is None


# -- no_numbers and its C twin ------------------------------------------------------

HEAD = publish_head("t")
data_starts = st.sampled_from([b'"a"', b"[1]", b"null", b"1", b"-2", b"{}", b"true", b"", b"n"])


@given(st.lists(st.tuples(st.sampled_from([HEAD, HEAD[:-1], b"", b"x" + HEAD[1:]]), data_starts,
                          st.binary(max_size=4)).map(b"".join), max_size=6))
def test_no_numbers_twin_is_the_reference(frames: list[bytes]) -> None:
    if native is None:
        pytest.skip("picloud.wire._messages is not built")
    assert native.no_numbers(frames, HEAD) is no_numbers_python(frames, HEAD)


def test_no_numbers_is_whether_no_data_could_be_a_reading() -> None:
    strings = [HEAD + b'"a",' + b"x", HEAD + b"[1]", HEAD + b"null"]
    assert no_numbers(strings, HEAD) and no_numbers([], HEAD)
    assert not no_numbers([*strings, HEAD + b"21.5"], HEAD)
    assert not no_numbers([HEAD], HEAD)  # no data at all: not this hub's frame
    assert not no_numbers([publish_head("u") + b'"a"'], HEAD)
    assert framefields.no_numbers is (no_numbers_python if native is None or disabled() else native.no_numbers)


def test_no_numbers_twin_refuses_what_is_not_bytes() -> None:
    if native is None:
        pytest.skip("picloud.wire._messages is not built")
    with pytest.raises(TypeError, match="frame must be bytes, not str"):
        native.no_numbers(["text"], HEAD)
    with pytest.raises(TypeError, match="must be a sequence"):
        native.no_numbers(5, HEAD)
