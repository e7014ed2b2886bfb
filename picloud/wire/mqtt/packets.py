"""MQTT 3.1 and 3.1.1 control packets: what they hold, and their bytes.

No I/O: ``parser.py`` turns bytes into these, ``encode_*`` turns them back.
Fields MQTT 5 adds (properties, reason strings) have no place here yet; the
packet types keep their 3.1.1 shapes so a v5 codec can sit beside them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Union

from ...exceptions import ProtocolError

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

#: CONNACK return codes [MQTT-3.2.2-3]
ACCEPTED, BAD_PROTOCOL, BAD_CLIENT_ID, UNAVAILABLE, BAD_CREDENTIALS, NOT_AUTHORIZED = 0, 1, 2, 3, 4, 5
#: A SUBACK's code for a refused filter: 3.1.1's, sent at 3.1 too (docs/mqtt.rst).
SUBSCRIBE_FAILURE = 0x80

#: Protocol levels: 3 is MQTT 3.1 ("MQIsdp"), 4 is 3.1.1; a bridge sets the top bit.
LEVELS = {3: "MQIsdp", 4: "MQTT"}
BRIDGE_BIT = 0x80


class MqttError(ProtocolError):
    """A packet that breaks the protocol: the connection is closed [MQTT-4.8.0-1]."""


@dataclass
class Connect:
    level: int
    client_id: str
    clean: bool
    keepalive: int
    username: str | None = None
    password: bytes | None = None
    will_topic: str | None = None
    will_payload: bytes = b""
    will_qos: int = 0
    will_retain: bool = False
    bridge: bool = False


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass
class Subscribe:
    packet_id: int
    filters: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Unsubscribe:
    packet_id: int
    filters: list[str] = field(default_factory=list)


@dataclass
class Ack:
    """PUBACK, PUBREC, PUBREL, PUBCOMP: a type and a packet id."""

    kind: int
    packet_id: int


@dataclass
class Bare:
    """PINGREQ, PINGRESP, DISCONNECT: a type alone."""

    kind: int


Packet = Union[Connect, Publish, Subscribe, Unsubscribe, Ack, Bare]


# -- encoding ---------------------------------------------------------------------------

def remaining_length(length: int) -> bytes:
    """The variable-length size of the fixed header [MQTT-2.2.3]."""
    if length > 268_435_455:
        raise MqttError(f"packet of {length} bytes is over mqtt's limit")
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def encode_connack(session_present: bool, code: int) -> bytes:
    return bytes((CONNACK << 4, 2, 1 if session_present else 0, code))


def encode_ack(kind: int, packet_id: int) -> bytes:
    # PUBREL's fixed header has the reserved bits 0010 [MQTT-3.6.1-1].
    return bytes(((kind << 4) | (2 if kind == PUBREL else 0), 2)) + struct.pack("!H", packet_id)


def encode_suback(packet_id: int, codes: list[int]) -> bytes:
    body = struct.pack("!H", packet_id) + bytes(codes)
    return bytes((SUBACK << 4,)) + remaining_length(len(body)) + body


def encode_unsuback(packet_id: int) -> bytes:
    return bytes((UNSUBACK << 4, 2)) + struct.pack("!H", packet_id)


PINGRESP_BYTES = bytes((PINGRESP << 4, 0))


def publish_parts(topic: str, payload: bytes) -> tuple[bytes, bytes]:
    """What every copy of a PUBLISH shares: the topic and the payload."""
    return string(topic), payload


def encode_publish(topic: bytes, payload: bytes, qos: int = 0, retain: bool = False, dup: bool = False,
                   packet_id: int | None = None) -> bytes:
    """A PUBLISH from its shared parts (``topic`` already length-prefixed):
    copies differ only in the first byte and the packet id."""
    flags = (PUBLISH << 4) | (qos << 1) | (8 if dup else 0) | (1 if retain else 0)
    length = len(topic) + len(payload)
    if qos:
        assert packet_id is not None
        length += 2
        # One byte of length for most: remaining_length's loop only past it.
        head = bytes((flags, length)) if length < 128 else bytes((flags,)) + remaining_length(length)
        return head + topic + bytes((packet_id >> 8, packet_id & 0xFF)) + payload
    head = bytes((flags, length)) if length < 128 else bytes((flags,)) + remaining_length(length)
    return head + topic + payload


def encode_connect(packet: Connect) -> bytes:
    """A CONNECT, as a client sends it (for tests and tools)."""
    name = LEVELS.get(packet.level & ~BRIDGE_BIT, "MQTT")  # an unknown level: as MQTT 5 names itself
    flags = (2 if packet.clean else 0)
    body = string(packet.client_id)
    if packet.will_topic is not None:
        flags |= 4 | (packet.will_qos << 3) | (32 if packet.will_retain else 0)
        body += string(packet.will_topic) + struct.pack("!H", len(packet.will_payload)) + packet.will_payload
    if packet.username is not None:
        flags |= 128
        body += string(packet.username)
    if packet.password is not None:
        flags |= 64
        body += struct.pack("!H", len(packet.password)) + packet.password
    head = string(name) + bytes((packet.level | (BRIDGE_BIT if packet.bridge else 0), flags))
    head += struct.pack("!H", packet.keepalive)
    return bytes((CONNECT << 4,)) + remaining_length(len(head) + len(body)) + head + body


def encode_subscribe(packet: Subscribe) -> bytes:
    body = struct.pack("!H", packet.packet_id) + b"".join(string(f) + bytes((q,)) for f, q in packet.filters)
    return bytes(((SUBSCRIBE << 4) | 2,)) + remaining_length(len(body)) + body


def encode_unsubscribe(packet: Unsubscribe) -> bytes:
    body = struct.pack("!H", packet.packet_id) + b"".join(string(f) for f in packet.filters)
    return bytes(((UNSUBSCRIBE << 4) | 2,)) + remaining_length(len(body)) + body


def encode(packet: Packet) -> bytes:
    """Any packet's bytes (the broker uses the specific encoders on its hot path)."""
    if isinstance(packet, Connect):
        return encode_connect(packet)
    if isinstance(packet, Publish):
        topic, payload = publish_parts(packet.topic, packet.payload)
        return encode_publish(topic, payload, packet.qos, packet.retain, packet.dup, packet.packet_id)
    if isinstance(packet, Subscribe):
        return encode_subscribe(packet)
    if isinstance(packet, Unsubscribe):
        return encode_unsubscribe(packet)
    if isinstance(packet, Ack):
        return encode_ack(packet.kind, packet.packet_id)
    return bytes((packet.kind << 4, 0))
