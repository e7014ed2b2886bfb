"""The MQTT codec (picloud/wire/mqtt/): packets to bytes and back, every
truncation waits for more, and random bytes never raise anything but the
codec's own error."""

from __future__ import annotations

import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from picloud.wire.codec import dumps
from picloud.wire.mqtt import packets as p
from picloud.wire.mqtt.parser import Parser
from picloud.wire.mqtt.payloads import JSON_STARTS, from_data, from_frame, to_data

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1, max_size=40)
ids = st.integers(1, 65535)


def _no_will_no_payload(connect: p.Connect) -> p.Connect:
    if connect.will_topic is None:
        connect.will_payload = b""  # a will's payload exists only with its topic
    return connect


packets = st.one_of(
    st.builds(p.Publish, topic=names, payload=st.binary(max_size=300), qos=st.just(0), retain=st.booleans()),
    st.builds(p.Publish, topic=names, payload=st.binary(max_size=300), qos=st.integers(1, 2), retain=st.booleans(),
              dup=st.booleans(), packet_id=ids),
    st.builds(p.Subscribe, packet_id=ids,
              filters=st.lists(st.tuples(names, st.integers(0, 2)), min_size=1, max_size=5)),
    st.builds(p.Unsubscribe, packet_id=ids, filters=st.lists(names, min_size=1, max_size=5)),
    st.builds(p.Ack, kind=st.sampled_from([p.PUBACK, p.PUBREC, p.PUBREL, p.PUBCOMP]), packet_id=ids),
    st.builds(p.Bare, kind=st.sampled_from([p.PINGREQ, p.DISCONNECT])),
    st.builds(p.Connect, level=st.sampled_from([3, 4]), client_id=names, clean=st.booleans(),
              keepalive=st.integers(0, 65535), username=st.none() | names, password=st.none() | st.binary(max_size=30),
              will_topic=st.none() | names, will_payload=st.binary(max_size=30)).map(_no_will_no_payload),
)


@given(st.lists(packets, min_size=1, max_size=5))
def test_packets_round_trip_whole_and_in_every_split(sent):
    data = b"".join(p.encode(packet) for packet in sent)
    assert Parser(1 << 20).feed(data) == sent
    for cut in range(len(data)):
        parser = Parser(1 << 20)
        # A packet cut short waits for the rest; then everything comes out.
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == sent


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_the_codecs_error(data):
    try:
        Parser(1000).feed(data)
    except p.MqttError:
        pass


def test_a_packet_over_the_limit_is_refused_from_its_header():
    header = bytes((p.PUBLISH << 4,)) + p.remaining_length(5000)
    with pytest.raises(p.MqttError, match="over the limit of 1000"):
        Parser(1000).feed(header)  # no body sent: the size alone decides


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "more than 4 bytes"),
        (b"\x36\x03\x00\x01t", r"qos 3"),
        (b"\x30\x05\x00\x03a/#", "wildcard topic"),
        (b"\x82\x02\x00\x01", "without a topic filter"),
        (b"\x80\x03\x00\x01\x00", "flags"),
        (b"\xf0\x00", "not one a client sends"),
        (b"\x10\x0c\x00\x04HTTP\x04\x02\x00\x3c\x00\x00", "not an mqtt connect"),
        (b"\x30\x04\x00\x02\xc3\x28", "not valid utf-8"),
        (b"\x30\x02\x00\x00", "empty topic"),
        (b"\x30\x03\x00\x01\x00", "U[+]0000"),
        (b"\x32\x05\x00\x01t\x00\x00", "packet id 0"),
        (b"\x32\x04\x00\x01t\x00", "ends inside a field"),
        (b"\x30\x01\x00", "ends inside a field"),
        (b"\x30\x03\x00\x05a", "ends inside a field"),
        (b"\x41\x02\x00\x01", "flags"),
        (b"\x60\x02\x00\x01", "flags"),
        (b"\x40\x03\x00\x01\x00", "bytes after the packet id"),
        (b"\x70\x01\x00", "ends inside a field"),
    ],
)
def test_malformed_packets_name_the_rule(data, error):
    with pytest.raises(p.MqttError, match=error):
        Parser(1 << 20).feed(data)
    # Again, after a good packet and split: a refused topic is never
    # remembered as checked, and a buffered packet is parsed alike.
    parser = Parser(1 << 20)
    with pytest.raises(p.MqttError, match=error):
        parser.feed(p.encode_publish(p.string("ok"), b"") + data[:1])
        parser.feed(data[1:])


@pytest.mark.parametrize(
    ("payload", "data", "encoding"),
    [
        (b"", None, None),
        (b"21.5", 21.5, None),
        (b"21.50", 21.5, None),
        (b'{"POWER":"ON"}', {"POWER": "ON"}, None),
        (b'"ON"', "ON", None),
        (b"ON", "ON", None),
        (b"NaN", "NaN", None),  # not strict JSON: the text
        (b"1e999", "1e999", None),  # no JSON form once parsed: the text
        (b"\xff\x00", "/wA=", "base64"),
    ],
)
def test_payloads_become_data_as_the_table_says(payload, data, encoding):
    assert to_data(payload) == (data, encoding)


@pytest.mark.parametrize(
    ("frame", "payload"),
    [
        (b'{"action":"publish","event":"t","data":"ON"}', b"ON"),
        (b'{"action":"publish","event":"t","data":{"POWER":"TOGGLE"}}', b'{"POWER":"TOGGLE"}'),
        (b'{"action":"publish","event":"t","data":21.5}', b"21.5"),
        (b'{"action":"publish","event":"t","data":null}', b""),
        (b'{"action":"publish","event":"t","data":"/wA=","encoding":"base64"}', b"\xff\x00"),
    ],
)
def test_picloud_data_becomes_an_mqtt_payload(frame, payload):
    assert from_frame(frame) == payload
    assert from_data("é") == "é".encode()


def _to_data_by_parsing(payload: bytes) -> tuple[object, str | None]:
    """to_data as it was before JSON_STARTS: every text tried as JSON."""
    if not payload:
        return None, None
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return to_data(payload)
    try:
        value = ujson.loads(text)
        dumps(value)
    except Exception:
        return text, None
    return value, None


@given(st.one_of(st.binary(max_size=40), st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.text("0123456789+-.eE |\x00\tIn[", max_size=12).map(str.encode),
                 st.sampled_from([b"ON", b"12|000001|17330|xx", b"1", b" [1]", b"NaN", b"Infinity", b"-Infinity",
                                  b"-", b"1e5", b"-1.5e+3 ", b"1 2", b"nul"])))
def test_payloads_not_tried_as_json_would_not_have_parsed(payload):
    assert to_data(payload) == _to_data_by_parsing(payload)


@pytest.mark.parametrize("first", sorted(set(range(1, 0x80)) - JSON_STARTS))
def test_ujson_takes_no_text_starting_with_a_byte_outside_json_starts(first):
    for rest in ("", "1", "aN", "nfinity", "rue", "ull", "]", "}", '"', '"a":1}', " 1", "e5"):
        with pytest.raises(ValueError):
            ujson.loads(chr(first) + rest)
