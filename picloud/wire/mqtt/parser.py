"""Bytes to MQTT packets, incrementally, with the size checked first.

``Parser.feed(data)`` returns the packets complete so far and keeps the
rest. A packet's size is known from its fixed header before its body is
read: one over ``max_packet`` raises at once, so a client cannot make the hub
buffer a packet it would refuse anyway. Every malformed input raises
MqttError (the connection is then closed [MQTT-4.8.0-1]); nothing else.
"""

from __future__ import annotations

from types import ModuleType
from typing import Callable

from .. import speedups
from .bodies import Reader, connect_body, decode_string, subscribe_body, unsubscribe_body
from .packets import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Ack,
    Bare,
    MqttError,
    Packet,
    Publish,
)

#: Fixed-header flags each packet type must carry [MQTT-2.2.2-1] (PUBLISH's vary).
REQUIRED_FLAGS = {CONNECT: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBSCRIBE: 2,
                  UNSUBSCRIBE: 2, PINGREQ: 0, DISCONNECT: 0}

#: The first bytes of PUBACK, PUBREC, PUBREL and PUBCOMP with their required flags.
ACK_HEADERS = frozenset((kind << 4) | REQUIRED_FLAGS[kind] for kind in (PUBACK, PUBREC, PUBREL, PUBCOMP))


class Parser:
    def __init__(self, max_packet: int) -> None:
        self.max_packet = max_packet
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Packet]:
        # Appended in place: a packet trickled in byte by byte costs its
        # length, not its length squared.
        if type(data) is not bytes:
            data = bytes(data)
        if self._buffer:
            self._buffer += data
            buffer: bytes | bytearray = self._buffer
        else:
            buffer = data
        packets, start = self.split(buffer, self.max_packet)
        if buffer is self._buffer:
            del self._buffer[:start]
        else:
            self._buffer = bytearray(buffer[start:])
        return packets

    @staticmethod
    def split(buffer: bytes | bytearray, max_packet: int) -> tuple[list[Packet], int]:
        return split(buffer, max_packet)  # set below: the C twin where it is built


def split_python(buffer: bytes | bytearray, max_packet: int) -> tuple[list[Packet], int]:
    """The complete packets at the start of ``buffer``, and the bytes they took."""
    packets: list[Packet] = []
    start = 0
    end = len(buffer)
    while end - start >= 2:
        first = buffer[start]
        length = buffer[start + 1]
        if length < 0x80:  # most packets: a one-byte remaining length
            body_start = start + 2
        else:
            length, used = 0, 0
            for shift in range(4):
                if start + 1 + shift >= end:
                    used = -1
                    break
                byte = buffer[start + 1 + shift]
                length |= (byte & 0x7F) << (7 * shift)
                if not byte & 0x80:
                    used = shift + 1
                    break
            else:
                raise MqttError("malformed remaining length: more than 4 bytes")
            if used < 0:
                break
            body_start = start + 1 + used
        if length > max_packet:
            raise MqttError(f"packet of {length} bytes is over the limit of {max_packet}")
        stop = body_start + length
        if stop > end:
            break
        if first >> 4 == PUBLISH:
            if type(buffer) is bytes:  # read in place: only the payload is copied
                packets.append(_publish_at(first, buffer, body_start, stop))
            else:
                packets.append(_publish_at(first, bytes(buffer[body_start:stop]), 0, length))
        elif length == 2 and first in ACK_HEADERS:  # a subscriber's PUBACK for each QoS 1 message
            packets.append(Ack(first >> 4, (buffer[body_start] << 8) | buffer[body_start + 1]))
        else:
            packets.append(decode(first, bytes(buffer[body_start:stop])))
        start = stop
    return packets, start


def decode(first: int, body: bytes) -> Packet:
    kind, flags = first >> 4, first & 0x0F
    if kind == PUBLISH:
        return _publish_at(first, body, 0, len(body))
    required = REQUIRED_FLAGS.get(kind)
    if required is None:
        raise MqttError(f"packet type {kind} is not one a client sends")
    if flags != required:
        raise MqttError(f"packet type {kind} with flags {flags:#x} [MQTT-2.2.2-2]")
    reader = Reader(body)
    if kind == CONNECT:
        return connect_body(reader)
    if kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        packet_id = reader.u16()
        if reader.left:
            raise MqttError("bytes after the packet id")
        return Ack(kind, packet_id)
    if kind == SUBSCRIBE:
        return subscribe_body(reader)
    if kind == UNSUBSCRIBE:
        return unsubscribe_body(reader)
    if body:
        raise MqttError(f"packet type {kind} has a body")
    return Bare(kind)


#: Topic names as they came, decoded and checked: publishers repeat a few
#: topics, so each is decoded once for every connection (bounded, as the
#: hub's other per-name caches are).
_topics: dict[bytes, str] = {}
MAX_CACHED_TOPICS = 4096


def _publish_at(first: int, data: bytes, at: int, stop: int) -> Publish:
    """The PUBLISH whose body is ``data[at:stop]``."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise MqttError("publish with qos 3 [MQTT-3.3.1-4]")
    if stop - at < 2:
        raise MqttError("packet ends inside a field")
    topic_end = at + 2 + ((data[at] << 8) | data[at + 1])
    if topic_end > stop:
        raise MqttError("packet ends inside a field")
    raw = data[at + 2:topic_end]
    topic = _topics.get(raw)
    if topic is None:
        topic = _check_topic(raw)
    packet_id = None
    if qos:
        if stop - topic_end < 2:
            raise MqttError("packet ends inside a field")
        packet_id = (data[topic_end] << 8) | data[topic_end + 1]
        if not packet_id:
            raise MqttError("packet id 0 [MQTT-2.3.1-1]")
        topic_end += 2
    return Publish(topic, data[topic_end:stop], qos, bool(first & 1), bool(first & 8), packet_id)


def _check_topic(raw: bytes) -> str:
    topic = decode_string(raw)
    if not topic:
        raise MqttError("publish to an empty topic [MQTT-4.7.3-1]")
    if "+" in topic or "#" in topic:
        raise MqttError(f"publish to a wildcard topic {topic[:60]!r} [MQTT-3.3.2-2]")
    if len(_topics) >= MAX_CACHED_TOPICS:
        _topics.clear()
    _topics[raw] = topic
    return topic


def native_split(module: ModuleType) -> Callable[[bytes | bytearray, int], tuple[list[Packet], int]]:
    """``split_python``'s C twin (picloud/wire/mqtt/_packets.c), told what
    it builds and calls."""
    module.configure(Publish, Ack, decode, _check_topic, _topics, MqttError)
    native: Callable[[bytes | bytearray, int], tuple[list[Packet], int]] = module.split
    return native


_native = speedups.load("picloud.wire.mqtt._packets")
split = split_python if _native is None else native_split(_native)
