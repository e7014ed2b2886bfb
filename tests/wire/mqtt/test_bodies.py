"""The fields of CONNECT, SUBSCRIBE and UNSUBSCRIBE (picloud/wire/mqtt/bodies.py),
read one by one; whole packets are test_parser.py's."""

from __future__ import annotations

import struct

import pytest

from picloud.wire.mqtt.bodies import Reader, connect_body, subscribe_body, unsubscribe_body
from picloud.wire.mqtt.packets import MqttError


def text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def test_a_level_the_hub_does_not_speak_is_answered_without_reading_the_rest():
    # Level 5 (MQTT 5), flags, keepalive, then whatever MQTT 5 puts there.
    connect = connect_body(Reader(text("MQTT") + bytes([5, 2]) + struct.pack("!H", 60) + b"\x00\x05junk"))
    assert connect.level == 5 and connect.client_id == "" and connect.keepalive == 60


def test_a_connect_with_credentials_and_a_will():
    body = (text("MQTT") + bytes([4, 0b11101110]) + struct.pack("!H", 30) + text("dev-1")
            + text("dev-1/status") + text(b"gone") + text("user") + text(b"\x00key"))
    connect = connect_body(Reader(body))
    assert (connect.client_id, connect.will_topic, connect.will_payload, connect.will_qos, connect.will_retain) == (
        "dev-1", "dev-1/status", b"gone", 1, True)
    assert (connect.username, connect.password, connect.clean) == ("user", b"\x00key", True)


@pytest.mark.parametrize(("field", "error"), [
    (b"\x00\x05ab", "packet ends inside a field"),
    (text(b"\xff"), "not valid utf-8"),
    (text("a\x00b"), r"U\+0000"),
])
def test_a_bad_string_names_what_is_wrong(field, error):
    with pytest.raises(MqttError, match=error):
        Reader(field).text()


def test_filters_and_their_options():
    assert subscribe_body(Reader(struct.pack("!H", 7) + text("a/#") + b"\x01" + text("b") + b"\x00")).filters == [
        ("a/#", 1), ("b", 0)]
    with pytest.raises(MqttError, match="subscribe options 0x3"):
        subscribe_body(Reader(struct.pack("!H", 7) + text("a") + b"\x03"))
    with pytest.raises(MqttError, match="without a topic filter"):
        unsubscribe_body(Reader(struct.pack("!H", 7)))


CONNECT_WITH_EVERYTHING = (text("MQTT") + bytes([4, 0b11101110]) + struct.pack("!H", 30) + text("dev-1")
                           + text("dev-1/status") + text(b"gone") + text("user") + text(b"\x00key"))


@pytest.mark.parametrize("cut", range(len(CONNECT_WITH_EVERYTHING)))
def test_a_connect_cut_anywhere_ends_inside_a_field(cut):
    with pytest.raises(MqttError, match="packet ends inside a field"):
        connect_body(Reader(CONNECT_WITH_EVERYTHING[:cut]))


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 6, 7])  # 2: a packet id and no filter, refused as such
def test_a_subscribe_cut_inside_a_field_says_so(cut):
    body = struct.pack("!H", 7) + text("a/#") + b"\x01"
    with pytest.raises(MqttError, match="packet ends inside a field"):
        subscribe_body(Reader(body[:cut]))
