"""The MQTT part of the tag line (picloud/brokers/redis/mqtt_tag.py)."""

from __future__ import annotations

from picloud.brokers.redis.mqtt_tag import apply, suffix, tagged
from picloud.hub.message import Message


def message(raw: bytes | None, qos: int) -> Message:
    made = Message("t", b'{"event":"t"}')
    made.raw, made.qos = raw, qos
    return made


def test_a_picloud_publishers_message_has_no_mqtt_part():
    assert suffix(message(None, 0)) == b""
    assert tagged(b"node-1\n", message(None, 0)) == b"node-1\n"


def test_bytes_and_qos_go_and_come_back():
    for raw, qos in ((b"21.50", 1), (b"\xff\x00", 2), (b"", 0), (None, 1)):
        line = tagged(b"node-1 7\n", message(raw, qos))
        assert line.endswith(b"\n") and line.startswith(b"node-1 7 q")
        got = Message("t", b"{}")
        apply(line[:-1].split(b" ")[1:], got)
        assert (got.raw, got.qos) == (raw, qos)


def test_a_damaged_part_leaves_the_frame_to_serve():
    got = Message("t", b"{}")
    apply([b"q1", b"not base64!"], got)
    assert (got.raw, got.qos) == (None, 1)
    untouched = Message("t", b"{}")
    apply([b"q9", b"eA=="], untouched)
    assert (untouched.raw, untouched.qos) == (None, 0)
