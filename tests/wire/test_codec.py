"""The JSON protocol's codec (picloud/wire/codec.py): event names, strict
encoding of publish frames, timestamps."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from picloud.exceptions import ProtocolError
from picloud.wire import codec as protocol
from picloud.wire.codec import dumps, encode_publish, utc_timestamp, validate_event
from picloud.wire.requests import parse_publications

RFC3339_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_timestamp_always_has_six_fractional_digits_and_z():
    assert utc_timestamp(1764106813.0) == "2025-11-25T21:40:13.000000Z"
    assert utc_timestamp(1764106813.433493) == "2025-11-25T21:40:13.433493Z"
    assert RFC3339_MICRO.match(utc_timestamp())


@pytest.mark.parametrize("name", ["temperature", "a/b/c", "Température", "x" * 256, "é" * 128, "c#", "a+b"])
def test_valid_event_names(name):
    assert validate_event(name) == name


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (None, "missing 'event'"),
        ("", "'event' must not be empty"),
        (5, "'event' must be a string, not int"),
        (["a"], "'event' must be a string, not list"),
        ("x" * 257, "'event' is longer than 256 bytes"),
        ("é" * 129, "'event' is longer than 256 bytes"),
        ("a\nb", "'event' contains control character '\\n'"),
        ("a\x00", "'event' contains control character '\\x00'"),
        ("a\x7f", "'event' contains control character '\\x7f'"),
    ],
)
def test_invalid_event_names(name, error):
    with pytest.raises(ProtocolError) as info:
        validate_event(name)
    assert str(info.value) == error


def test_publish_encoding_is_strict_json_in_field_order():
    payload = encode_publish("a/b", {"url": "http://x/y", "t": 21.5}, "2026-11-25T21:40:13.000000Z")
    assert payload == (
        b'{"action":"publish","event":"a/b","data":{"url":"http://x/y","t":21.5},'
        b'"created_at":"2026-11-25T21:40:13.000000Z"}'
    )
    assert json.loads(payload)["data"]["url"] == "http://x/y"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@given(event=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20), data=json_values)
def test_publish_encoding_matches_encoding_the_whole_object(event, data):
    # encode_publish caches each event's start of frame: it must not show.
    whole = dumps({"action": "publish", "event": event, "data": data, "created_at": "2026-11-25T21:40:13.000000Z"})
    for _ in range(2):
        assert encode_publish(event, data, "2026-11-25T21:40:13.000000Z") == whole


@given(data=json_values)
def test_encoding_is_what_ujson_makes_with_the_options_by_keyword(data):
    # dumps passes ujson's options by position (see protocol._strict_ujson).
    expected = ujson.dumps(data, ensure_ascii=False, escape_forward_slashes=False, allow_nan=False)
    assert dumps(data) == expected.encode("utf-8")


def test_encoding_options_go_by_keyword_when_ujson_orders_them_differently(monkeypatch):
    def keywords_only(value, **options):
        return real_dumps(value, **options)

    real_dumps = ujson.dumps
    monkeypatch.setattr(ujson, "dumps", keywords_only)
    strict = protocol._strict_ujson()
    assert strict({"url": "a/é", "x": [1.5]}) == '{"url":"a/é","x":[1.5]}'
    with pytest.raises(OverflowError):
        strict(float("nan"))


def test_event_names_found_valid_are_remembered_within_a_bound(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_CACHED_HEADS", 3)
    for n in range(10):
        validate_event(f"remembered/{n}")
        assert len(protocol._valid_names) <= 3
    assert "remembered/9" in protocol._valid_names
    with pytest.raises(ProtocolError, match="control character"):
        validate_event("bad\x00")
    assert "bad\x00" not in protocol._valid_names


def test_publish_is_stamped_now_unless_told_and_a_given_stamp_is_escaped():
    assert RFC3339_MICRO.match(json.loads(encode_publish("t", 1))["created_at"])
    assert json.loads(encode_publish("t", 1, 'a"\\b'))["created_at"] == 'a"\\b'


def test_cached_frame_starts_are_bounded(monkeypatch):
    monkeypatch.setattr(protocol, "MAX_CACHED_HEADS", 3)
    for n in range(10):
        encode_publish(f"bounded/{n}", n, "x")
        assert len(protocol._publish_heads) <= 3


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1, float("-inf")], {"a": float("nan")}])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ProtocolError, match="non-finite"):
        dumps(value)


def test_parsed_nan_is_refused_when_encoded():
    # ujson parses NaN and 1e999; the encoder is where they are stopped.
    for text in ('{"event": "t", "data": NaN}', '{"event": "t", "data": 1e999}'):
        (item,) = parse_publications(text)
        with pytest.raises(ProtocolError, match="non-finite"):
            encode_publish(item.event, item.data, "x")


def test_unpaired_surrogate_is_refused():
    with pytest.raises(ProtocolError, match="surrogate"):
        dumps("\ud800")


def test_non_ascii_is_sent_as_utf8():
    assert dumps({"t": "Température"}) == '{"t":"Température"}'.encode()


# -- utc_timestamp caches the formatted second between calls --------------------


@pytest.mark.parametrize("when", [0.0, 0.000001, 1e9, 1e9 + 0.5, 1764107013.433493, 1764107013.999999])
def test_matches_strftime(when):
    expected = datetime.fromtimestamp(int(when), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
    stamp = utc_timestamp(when)
    assert stamp.startswith(expected)
    assert stamp.endswith("Z")
    assert len(stamp) == len("2026-11-25T21:40:13.433493Z")
    assert stamp == datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_second_changes_with_the_time():
    assert utc_timestamp(1e9 + 0.9) == "2001-09-09T01:46:40.900000Z"
    assert utc_timestamp(1e9 + 1.25) == "2001-09-09T01:46:41.250000Z"
    assert utc_timestamp(1e9 + 0.9) == "2001-09-09T01:46:40.900000Z"


@pytest.mark.parametrize("name", ["\ud800", "a/\udfffb", "ok/\udbff"])
def test_a_name_that_is_not_utf8_text_is_refused(name):
    """A lone surrogate (a JSON escape such as "\\ud800") can be in a str but
    in no frame, Redis channel or file: refused, and the error names it."""
    with pytest.raises(ProtocolError, match="'event' is not valid utf-8 text: ") as info:
        protocol.validate_event(name)
    str(info.value).encode("utf-8")  # the error itself can be sent
    assert name not in protocol._valid_names


def test_client_names_are_text_of_at_most_128_bytes():
    assert protocol.validate_client_name("kitchen-pi") == "kitchen-pi"
    assert protocol.validate_client_name("é" * 64) == "é" * 64  # 128 bytes
    with pytest.raises(ProtocolError, match="client name is longer than 128 bytes"):
        protocol.validate_client_name("é" * 65)
    with pytest.raises(ProtocolError, match="client name is not valid utf-8 text"):
        protocol.validate_client_name("pi\ud800")


def test_bad_json_says_where_and_why():
    with pytest.raises(ProtocolError) as info:
        protocol.loads('{"event": temperature}')
    assert str(info.value) == "invalid json: expecting value at line 1 column 11 (near 'temperature}')"
    with pytest.raises(ProtocolError, match=r"^invalid json: expecting ',' delimiter at line 2 column 1$"):
        protocol.loads('{"a": 1\n')
