"""The bodies of the MQTT packets a client sends that have fields to read
one by one: CONNECT, SUBSCRIBE, UNSUBSCRIBE (parser.py splits the packets
and decodes the others). Every malformed field raises MqttError.
"""

from __future__ import annotations

from .packets import BRIDGE_BIT, LEVELS, Connect, MqttError, Subscribe, Unsubscribe


def decode_string(raw: bytes) -> str:
    """An MQTT string's text: UTF-8 without U+0000."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MqttError("a string is not valid utf-8 [MQTT-1.5.3-1]") from None
    if "\x00" in text:
        raise MqttError("a string contains U+0000 [MQTT-1.5.3-2]")
    return text


class Reader:
    """Reads the fields of one packet body, raising MqttError past its end."""

    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    # Each field read in one call (a client's CONNECT and SUBSCRIBE are read
    # field by field on every connection).

    def take(self, count: int) -> bytes:
        at = self.at
        end = at + count
        if end > len(self.data):
            raise MqttError("packet ends inside a field")
        self.at = end
        return self.data[at:end]

    def u8(self) -> int:
        at = self.at
        if at >= len(self.data):
            raise MqttError("packet ends inside a field")
        self.at = at + 1
        return self.data[at]

    def u16(self) -> int:
        data, at = self.data, self.at
        if at + 2 > len(data):
            raise MqttError("packet ends inside a field")
        self.at = at + 2
        return (data[at] << 8) | data[at + 1]

    def binary(self) -> bytes:
        data, at = self.data, self.at
        start = at + 2
        if start > len(data):
            raise MqttError("packet ends inside a field")
        end = start + ((data[at] << 8) | data[at + 1])
        if end > len(data):
            raise MqttError("packet ends inside a field")
        self.at = end
        return data[start:end]

    def text(self) -> str:
        return decode_string(self.binary())

    @property
    def left(self) -> int:
        return len(self.data) - self.at


def connect_body(reader: Reader) -> Connect:
    name = reader.text()
    level = reader.u8()
    base = level & ~BRIDGE_BIT
    if name not in LEVELS.values():
        raise MqttError(f"not an mqtt connect: protocol name {name[:20]!r} [MQTT-3.1.2-1]")
    flags = reader.u8()
    if flags & 1:
        raise MqttError("connect flags reserved bit set [MQTT-3.1.2-3]")
    keepalive = reader.u16()
    connect = Connect(level=base, client_id="", clean=bool(flags & 2), keepalive=keepalive,
                      bridge=bool(level & BRIDGE_BIT))
    if LEVELS.get(base) != name:
        # An unknown level, or a name not that of its level ("MQIsdp" at 4):
        # the broker answers return code 1 [MQTT-3.1.2-2], so the rest need
        # not be read.
        connect.level = base if base not in LEVELS else -base
        return connect
    connect.client_id = reader.text()
    will_qos = (flags >> 3) & 3
    if flags & 4:
        if will_qos == 3:
            raise MqttError("will qos 3 [MQTT-3.1.2-14]")
        connect.will_topic = reader.text()
        connect.will_payload = reader.binary()
        connect.will_qos = will_qos
        connect.will_retain = bool(flags & 32)
    elif will_qos or flags & 32:
        raise MqttError("will qos or retain without a will [MQTT-3.1.2-11]")
    if flags & 128:
        connect.username = reader.text()
    if flags & 64:
        connect.password = reader.binary()
    return connect


def subscribe_body(reader: Reader) -> Subscribe:
    packet = Subscribe(reader.u16())
    while reader.left:
        topic = reader.text()
        qos = reader.u8()
        if qos & ~3 or qos == 3:
            raise MqttError(f"subscribe options {qos:#x} [MQTT-3.8.3-4]")
        packet.filters.append((topic, qos))
    if not packet.filters:
        raise MqttError("subscribe without a topic filter [MQTT-3.8.3-3]")
    return packet


def unsubscribe_body(reader: Reader) -> Unsubscribe:
    packet = Unsubscribe(reader.u16())
    while reader.left:
        packet.filters.append(reader.text())
    if not packet.filters:
        raise MqttError("unsubscribe without a topic filter [MQTT-3.10.3-2]")
    return packet
