"""Fields cut out of a publish frame without parsing it (picloud/wire/framefields.py):
what parsing the frame would find, for any event and data."""

from __future__ import annotations

import json

import ujson
from hypothesis import given
from hypothesis import strategies as st

from picloud.wire.codec import _CONTROL, dumps, encode_publish
from picloud.wire.framefields import created_at_in, event_in, publish_parts

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
