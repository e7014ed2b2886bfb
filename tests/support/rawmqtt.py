"""An MQTT client on a plain socket, for what paho will not do: leave a
QoS 1 message unacknowledged, send half a packet, look at DUP and RETAIN."""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY


class Received(NamedTuple):
    kind: int
    flags: int
    body: bytes


class Delivered(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    dup: bool
    retain: bool
    packet_id: int | None


class RawMqtt:
    def __init__(self, port: int, client_id: str | None, *, clean: bool = True, key: str = KEY, level: int = 4,
                 rcvbuf: int | None = None) -> None:
        """Connected, and with a ``client_id`` past CONNACK; ``rcvbuf`` is set before connecting."""
        self.sock = socket.socket()
        self.sock.settimeout(10)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.connack: bytes | None = None
        if client_id is not None:
            self.send(p.encode_connect(p.Connect(level, client_id, clean, 60, username="u", password=key.encode())))
            answer = self.read()
            assert answer.kind == p.CONNACK, answer
            self.connack = answer.body

    @property
    def session_present(self) -> bool:
        assert self.connack is not None
        return bool(self.connack[0] & 1)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise EOFError("the hub closed the connection")
            data += chunk
        return data

    def read(self) -> Received:
        first = self._exactly(1)[0]
        length, shift = 0, 0
        while True:
            byte = self._exactly(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return Received(first >> 4, first & 0x0F, self._exactly(length))

    def subscribe(self, *filters: tuple[str, int], packet_id: int = 1) -> list[int]:
        self.send(p.encode_subscribe(p.Subscribe(packet_id, list(filters))))
        answer = self.read()
        assert answer.kind == p.SUBACK, answer
        return list(answer.body[2:])

    def receive(self) -> Delivered:
        """The next PUBLISH (other packets are skipped); not acknowledged."""
        while True:
            packet = self.read()
            if packet.kind == p.PUBLISH:
                break
        body, flags = packet.body, packet.flags
        (size,) = struct.unpack_from("!H", body)
        topic = body[2:2 + size].decode()
        qos, at = (flags >> 1) & 3, 2 + size
        packet_id = None
        if qos:
            (packet_id,) = struct.unpack_from("!H", body, at)
            at += 2
        return Delivered(topic, body[at:], qos, bool(flags & 8), bool(flags & 1), packet_id)

    def ack(self, packet_id: int) -> None:
        self.send(p.encode_ack(p.PUBACK, packet_id))

    def disconnect(self) -> None:
        self.send(bytes((p.DISCONNECT << 4, 0)))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def closed_by_hub(self) -> bool:
        """True once the hub has closed this connection (reads to EOF)."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return True
