"""picloud/wire/scan.py and its C twin, _publish.c: the twin answers as the
ordinary parse does, or leaves the frame to it (None), never otherwise."""

from __future__ import annotations

import importlib
import json
import os
import random
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from picloud.wire import scan as scan_module
from picloud.wire.codec import created_at_end, encode_publish, publish_head
from picloud.wire.scan import scan_publish_python, scan_python
from picloud.wire.speedups import DISABLE_ENV

try:
    native: Any = importlib.import_module("picloud.wire._publish")
except ImportError:  # pragma: no cover - see test_the_twin_is_built
    native = None

needs_native = pytest.mark.skipif(native is None, reason="picloud.wire._publish is not built")


def test_the_twin_is_built() -> None:
    """The suite's install has a compiler: a missing twin is a broken build,
    not a reason to test less."""
    assert native is not None, "picloud.wire._publish did not build (setup.py SPEEDUPS)"


def test_the_scanner_is_off_on_the_pure_path() -> None:
    assert (scan_module.scan is None) == (os.environ.get(DISABLE_ENV, "") not in ("", "0"))


COMMON = [
    ('{"event":"ev-0","data":"pub-1|2|3|xxxx"}', ("ev-0", b'"pub-1|2|3|xxxx"', False, None)),
    ('{"event":"garden/temperature","data":21.5}', ("garden/temperature", b"21.5", False, None)),
    ('{"action":"publish","event":"t","data":{"a":1,"b":[true,null,-2.25]},"id":7}',
     ("t", b'{"a":1,"b":[true,null,-2.25]}', False, 7)),
    ('{"event":"t","data":0,"retain":true,"id":"r-1"}', ("t", b"0", True, "r-1")),
    ('{"event":"t"}', ("t", b"null", False, None)),
    ('{"event":"ä/ö","data":"é 😀"}', ("ä/ö", '"é 😀"'.encode(), False, None)),
    (b'{"event":"t","data":[1,2]}', ("t", b"[1,2]", False, None)),
    ('  {"event":"t","data":1.0}\n', ("t", b"1.0", False, None)),
    ('{"data":5,"other":{"x": [1.50, "\\u00e9"]},"event":"t","id":null}', ("t", b"5", False, None)),
]


@needs_native
@pytest.mark.parametrize(("text", "parts"), COMMON)
def test_what_publishers_send_is_taken(text: str | bytes, parts: tuple[Any, ...]) -> None:
    assert native.scan(text) == parts
    assert scan_python(text) == parts


LEFT = [
    '{"event":"t","data":1.50}',  # written back as 1.5
    '{"event":"t","data":-0}',
    '{"event":"t","data":1e3}',
    '{"event":"t","data":{"a":1,"a":2}}',
    '{ "event":"t","data":[1, 2]}',
    '{"event":"t","data":"a\\nb"}',
    '{"event":"t","event":"u"}',
    '{"ev\\u0065nt":"t"}',
    '[{"event":"t"}]',
    '{"event":"a/+"}', '{"event":"#"}', '{"event":"$SYS/x"}', '{"event":""}', '{"event":"a\\u0000"}',
    '{"event":"\u0085"}', '{"event":"t","action":"subscribe"}', '{"event":"t","retain":1}',
    '{"event":"t","id":true}', '{"event":"t","id":1.5}', '{"event":"t","id":"' + "x" * 129 + '"}',
    '{"event":"t","data":1}x', '{"event":"t","data":01}', '{"event":"t","data":nul}', '{"event":"t"',
    '{"event":"t","data":12345678901234567890}', "", "null", '"t"', '{}', b'{"event":"\xc3\xa9"}',
    '{"event":"' + "e" * 257 + '"}', '{"event":"t","data":' + "[" * 40 + "]" * 40 + "}",
]


@needs_native
@pytest.mark.parametrize("text", LEFT)
def test_what_the_ordinary_parse_must_word_or_rewrite_is_left_to_it(text: str | bytes) -> None:
    assert native.scan(text) is None


@needs_native
@pytest.mark.skipif(sys.maxsize < 2**32, reason="a 2 GiB frame does not fit a 32-bit process")
@pytest.mark.skipif(os.environ.get(DISABLE_ENV, "") not in ("", "0"),
                    reason="4 GiB and 10 s each: the C code is the same in both of the suite's passes")
@pytest.mark.parametrize("field", ["id", "data"])
def test_a_number_of_two_to_the_31_digits_is_left_to_the_ordinary_parse(field: str) -> None:
    """Its digit count must not wrap into a short one (a numeric id is then
    copied into a 20-byte buffer): what a --max-message-bytes of 2 GiB lets in."""
    text = bytearray(b'{"event":"t","%s":' % field.encode())
    text += b"1" * 2**31
    text += b"}"
    frame = bytes(text)
    del text
    assert native.scan(frame) is None


@needs_native
def test_it_takes_only_text() -> None:
    with pytest.raises(TypeError, match="str or bytes, not int"):
        native.scan(5)


numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 8).flatmap(lambda places: st.decimals(allow_nan=False, allow_infinity=False, places=places))
    .map(str),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)),
    max_leaves=12,
)


def number_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def render(value: Any, rng: random.Random, spaces: bool) -> str:
    """JSON text of ``value``, numbers written in several ways, some with spaces."""
    gap = " " if spaces and rng.random() < 0.3 else ""
    if isinstance(value, dict):
        items = [json.dumps(k, ensure_ascii=rng.random() < 0.2) + gap + ":" + render(v, rng, spaces)
                 for k, v in value.items()]
        if items and rng.random() < 0.1:
            items.append(items[0])  # a duplicate key
        return "{" + ("," + gap).join(items) + "}"
    if isinstance(value, list):
        return "[" + ("," + gap).join(render(v, rng, spaces) for v in value) + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = json.dumps(value)
        if rng.random() < 0.2 and "." in text and "e" not in text:
            text += "0"  # a trailing zero
        return text
    if isinstance(value, str) and value and value[0] in "-0123456789":
        try:
            float(value)
            return value  # a decimal's own text: 1.500, 0.000012
        except ValueError:
            pass
    return json.dumps(value, ensure_ascii=rng.random() < 0.2)


@needs_native
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=values,
    event=st.one_of(st.sampled_from(["t", "a/b", "ä", "$x", "a+", "#"]), st.text(max_size=6)),
    extra=st.dictionaries(st.sampled_from(["action", "retain", "id", "other", "data2"]),
                          st.one_of(leaves, st.sampled_from(["publish", True])), max_size=3),
    seed=st.integers(0, 2**32),
    spaces=st.booleans(),
)
@example(data=0.0001, event="t", extra={}, seed=0, spaces=False)
@example(data=123456789012.345, event="t", extra={}, seed=0, spaces=False)
def test_the_twin_agrees_with_the_ordinary_parse(data: Any, event: str, extra: dict[str, Any], seed: int,
                                                  spaces: bool) -> None:
    rng = random.Random(seed)
    fields = {"event": json.dumps(event, ensure_ascii=rng.random() < 0.2), "data": render(data, rng, spaces)}
    fields.update({key: render(value, rng, spaces) for key, value in extra.items()})
    keys = list(fields)
    rng.shuffle(keys)
    text = "{" + ",".join(f'"{key}":{fields[key]}' for key in keys) + "}"
    got = native.scan(text)
    if got is not None:
        assert got == scan_python(text), text
    encoded = text.encode()
    if encoded.isascii():
        assert native.scan(encoded) == got
    both_publish_scans_agree(text, got)


@needs_native
@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 60))
def test_damaged_frames_never_pass_for_something_else(noise: bytes, at: int) -> None:
    base = b'{"event":"t/1","data":{"a":[1,2.5,"x"],"b":null},"id":3}'
    text = base[:at] + noise + base[at:]
    got = native.scan(text)
    if got is not None:
        assert got == scan_python(text), text
    both_publish_scans_agree(text, got)


# -- scan_publish: the same scan, the publish frame made at once ------------------

END = created_at_end(b'"2026-12-06T21:00:00.000001Z"')


def both_publish_scans_agree(text: str | bytes, scanned: Any) -> None:
    """scan_publish is scan with the frame made: None exactly where scan is
    None or the event has no cached head, else the reference's answer."""
    heads = {scanned[0]: publish_head(scanned[0])} if scanned is not None else {}
    got = native.scan_publish(text, heads, END)
    if scanned is None:
        assert got is None
    else:
        assert got == scan_publish_python(text, heads, END), text
        assert native.scan_publish(text, {}, END) is None


@needs_native
@pytest.mark.parametrize(("text", "parts"), COMMON)
def test_scan_publish_makes_the_frame_the_ordinary_path_makes(text: str | bytes, parts: tuple[Any, ...]) -> None:
    event, data, retain, request_id = parts
    stamp = b'"2026-12-06T21:00:00.000001Z"'
    heads = {event: publish_head(event)}
    frame = encode_publish(event, json.loads(data), stamp=stamp)
    assert native.scan_publish(text, heads, created_at_end(stamp)) == (event, frame, retain, request_id, False)
    assert scan_publish_python(text, heads, created_at_end(stamp)) == (event, frame, retain, request_id, False)


@needs_native
def test_scan_publish_says_whether_a_retained_value_is_cleared() -> None:
    heads = {"t": publish_head("t")}
    for text, clears in (('{"event":"t","data":null,"retain":true}', True), ('{"event":"t","retain":true}', True),
                         ('{"event":"t","data":null}', False), ('{"event":"t","data":"null","retain":true}', False)):
        assert native.scan_publish(text, heads, END)[4] is clears
        assert scan_publish_python(text, heads, END)[4] is clears  # type: ignore[index]


@needs_native
def test_scan_publish_takes_a_dict_of_heads_and_bytes() -> None:
    text = '{"event":"t","data":1}'
    with pytest.raises(TypeError):
        native.scan_publish(text, [], END)
    with pytest.raises(TypeError):
        native.scan_publish(text, {}, "end")
    assert native.scan_publish(text, {"t": "not bytes"}, END) is None
    with pytest.raises(TypeError, match="str or bytes, not int"):
        native.scan_publish(5, {}, END)


def test_the_hub_takes_the_publish_scan_unless_told_not_to() -> None:
    assert (scan_module.scan_publish is None) == (os.environ.get(DISABLE_ENV, "") not in ("", "0"))


@needs_native
def test_scan_publish_names_each_message_s_own_event_whatever_came_before() -> None:
    """The C scanner keeps the last event's str: the next must still be its own."""
    names = ["a", "ab", "a", "b", "ä", "a/ä", "a/ä", "ab"]
    heads = {name: publish_head(name) for name in names}
    texts = [json.dumps({"event": name, "data": 1}, separators=(",", ":"), ensure_ascii=False) for name in names]
    got = [native.scan_publish(text, heads, END) for text in texts]
    assert [parts[0] for parts in got] == names
    assert [parts[1] for parts in got] == [heads[name] + b"1" + END for name in names]
