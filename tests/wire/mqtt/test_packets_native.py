"""picloud/wire/mqtt/_packets.c against parser.split_python, the reference:
random streams of valid packets, the same with bytes changed, cut off or
put in, and random bytes, fed to both in random chunkings under random size
limits, give the same packets and the same errors after the same chunk.

The extension is imported here directly, so these run under
PICLOUD_PURE_PYTHON=1 too; where it is not built they are skipped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picloud.wire.mqtt import packets as p
from picloud.wire.mqtt import parser
from picloud.wire.mqtt.parser import Parser, native_split, split_python
from tests.wire.mqtt.test_parser import packets

_packets = pytest.importorskip("picloud.wire.mqtt._packets", reason="the C twin is not built here")


class PythonParser(Parser):
    split = staticmethod(split_python)


class NativeParser(Parser):
    split = staticmethod(native_split(_packets))


def _stream(draw: Any) -> bytes:
    data = b"".join(p.encode(packet) for packet in draw(st.lists(packets, max_size=6)))
    mutation = draw(st.sampled_from(["none", "none", "change", "cut", "insert", "random"]))
    if mutation == "random":
        return draw(st.binary(max_size=300))
    if not data or mutation == "none":
        return data
    at = draw(st.integers(0, len(data) - 1))
    if mutation == "change":
        return data[:at] + bytes((draw(st.integers(0, 255)),)) + data[at + 1:]
    if mutation == "cut":
        return data[:at] + data[at + draw(st.integers(1, 8)):]
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


@st.composite
def fed(draw: Any) -> tuple[int, list[bytes]]:
    """A size limit, and a stream cut into the chunks it arrives in."""
    data = _stream(draw)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    limit = draw(st.sampled_from([1 << 20, 0, 1, 2, 5, 40, 127, 128, 300]))
    return limit, [data[a:b] for a, b in zip(bounds, bounds[1:])]


def _outcomes(parser_: Parser, chunks: list[bytes]) -> list[Any]:
    """What each chunk gave (its packets, or its error), up to the first error."""
    outcomes: list[Any] = []
    for chunk in chunks:
        try:
            outcomes.append(parser_.feed(chunk))
        except p.MqttError as exc:
            outcomes.append((type(exc), str(exc)))
            break
        outcomes.append(parser_.buffered)
    return outcomes


@settings(max_examples=400)
@given(fed())
def test_the_c_twin_splits_and_refuses_as_the_python_code_does(case):
    limit, chunks = case
    assert _outcomes(NativeParser(limit), chunks) == _outcomes(PythonParser(limit), chunks)


@pytest.mark.parametrize("limit", [2**63, 2**80, -(2**63) - 1])
def test_a_limit_past_the_machines_word_splits_as_in_python(limit):
    """As a ``--max-message-bytes`` of 2 GiB or more is on armv7, where
    Py_ssize_t has 32 bits: no packet is over a huge limit, every one over a
    negative one."""
    data = p.encode(p.Publish("t", b"x" * 200)) + b"\xc0\x00"
    assert _outcomes(NativeParser(limit), [data]) == _outcomes(PythonParser(limit), [data])
    with pytest.raises(TypeError):
        _packets.split(data, 1.5)


@given(st.lists(packets, min_size=1, max_size=5), st.booleans())
def test_bytes_and_bytearrays_split_alike(sent, as_bytearray):
    data = b"".join(p.encode(packet) for packet in sent)
    buffer = bytearray(data) if as_bytearray else data
    assert _packets.split(buffer, 1 << 20) == split_python(buffer, 1 << 20) == (sent, len(data))


def test_a_topic_refused_once_is_refused_again_and_a_good_one_remembered():
    bad = p.encode_publish(p.string("a/#"), b"x")
    for _ in range(2):
        with pytest.raises(p.MqttError, match="wildcard topic 'a/#'"):
            _packets.split(bad, 1 << 20)
    assert "a/#" not in parser._topics.values()
    _packets.split(p.encode_publish(p.string("native/remembered"), b"x"), 1 << 20)
    assert parser._topics[b"native/remembered"] == "native/remembered"


def test_the_parser_uses_the_c_twin_unless_told_not_to():
    if parser._native is None:
        assert parser.split is split_python  # PICLOUD_PURE_PYTHON=1
    else:
        assert parser.split is _packets.split
