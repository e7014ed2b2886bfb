"""Plain blocking clients for what the load generators do not do: websocket
and MQTT subscribers that stay idle, a subscriber that stops reading, and a
publisher of numbers."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import threading
import time

from picloud.wire.mqtt.packets import CONNACK, SUBACK, Connect, Subscribe, encode_connect, encode_subscribe

SUBSCRIBE_PATH = "/subscribe?clientName={name}"


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final client-to-server frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def open_websocket(
    port: int, key: str, path: str, *, rcvbuf: int | None = None, timeout: float = 10.0,
) -> socket.socket:
    """Connect to 127.0.0.1:port and complete the upgrade; return the socket.

    ``rcvbuf`` is set before connecting, so the TCP window stays that small:
    a peer that then stops reading stalls the server after a few KiB.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        nonce = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            f"Sec-WebSocket-Version: 13\r\nX-API-Key: {key}\r\n\r\n"
        )
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"connection closed during upgrade of {path}")
            answer += chunk
        status = answer.split(b"\r\n", 1)[0].decode("latin-1")
        if status.split(" ")[1:2] != ["101"]:
            raise ConnectionError(f"upgrade of {path} refused: {status!r}")
    except BaseException:
        sock.close()
        raise
    return sock


def subscriber(port: int, key: str, event: str, name: str, *, rcvbuf: int | None = None) -> socket.socket:
    """A /subscribe websocket subscribed to ``event`` that this side never reads."""
    sock = open_websocket(port, key, SUBSCRIBE_PATH.format(name=name), rcvbuf=rcvbuf)
    sock.sendall(mask_frame(json.dumps({"action": "subscribe", "event": event}).encode()))
    return sock


class NumbersPublisher:
    """Publishes readings that are numbers, ``{"temperature": 21.5,
    "humidity": 40}``, at a steady ``rate`` a second over one /publish
    websocket, from a thread of its own: round-robin on ``events`` events
    ``PREFIXi``, a batch every ``tick`` seconds. What pcbench cannot send
    (its ``data`` is a string that carries its sequence and send time).

    The frames are made once, so that the thread costs next to nothing;
    nothing comes back (no ``id``, no acks), but whatever does is read.
    """

    def __init__(self, port: int, key: str, rate: float = 1000.0, events: int = 20,
                 prefix: str = "bench/room-", tick: float = 0.01) -> None:
        self.rate, self.tick = rate, tick
        self.events = [f"{prefix}{i}" for i in range(events)]
        # A cycle of frames that covers each event with several values.
        self._frames = [
            mask_frame(json.dumps({"event": self.events[i % events], "data": {
                "temperature": round(18 + (i * 7 % 60) / 10, 1), "humidity": 35 + i * 3 % 20}}).encode())
            for i in range(events * 10)
        ]
        self.sent = 0
        self.error: str | None = None
        self._sock = open_websocket(port, key, "/publish?clientName=numbers")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numbers-publisher", daemon=True)

    def start(self) -> NumbersPublisher:
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop publishing and close; how many messages were sent."""
        self._stop.set()
        self._thread.join()
        self._sock.close()
        return self.sent

    def _run(self) -> None:
        start = time.monotonic()
        cycle = len(self._frames)
        try:
            while not self._stop.wait(self.tick):
                # As many as are due (at most a second's worth at once).
                due = min(int((time.monotonic() - start) * self.rate) - self.sent, int(self.rate))
                if due > 0:
                    first = self.sent % cycle
                    batch = [self._frames[(first + i) % cycle] for i in range(due)]
                    self._sock.sendall(b"".join(batch))
                    self.sent += due
                while select.select([self._sock], [], [], 0)[0]:
                    if not self._sock.recv(65536):
                        raise ConnectionError("the hub closed the numbers publisher's connection")
        except OSError as exc:
            self.error = f"numbers publisher: {exc}"

    def __enter__(self) -> NumbersPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def idle_subscribers(
    port: int, key: str, count: int, event: str = "idle", own: bool = False,
) -> list[socket.socket]:
    """``count`` subscribers of ``event``, or with ``own`` each of its own, ``event/i``."""
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            socks.append(subscriber(port, key, f"{event}/{i}" if own else event, f"idle-{i}"))
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def mqtt_subscriber(port: int, key: str, client_id: str, topic: str, *, keepalive: int = 60,
                    timeout: float = 10.0) -> socket.socket:
    """An MQTT 3.1.1 connection (clean session, the key as password)
    subscribed to ``topic`` at QoS 0, once the broker has granted it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        connect = Connect(level=4, client_id=client_id, clean=True, keepalive=keepalive,
                          username="bench", password=key.encode())
        sock.sendall(encode_connect(connect) + encode_subscribe(Subscribe(1, [(topic, 0)])))
        # CONNACK is 4 bytes, a SUBACK of one filter 5; nothing else comes before them.
        answer = _exactly(sock, 9)
        if answer[0] >> 4 != CONNACK or answer[3] != 0:
            raise ConnectionError(f"mqtt connect of {client_id} refused: {answer[:4].hex()}")
        if answer[4] >> 4 != SUBACK or answer[8] & 0x80:
            raise ConnectionError(f"mqtt subscribe of {client_id} to {topic} refused: {answer[4:].hex()}")
    except BaseException:
        sock.close()
        raise
    return sock


def idle_mqtt(port: int, key: str, count: int, prefix: str = "idle") -> list[socket.socket]:
    """``count`` MQTT connections, each subscribed to a topic of its own,
    ``prefix/TAG/i``; TAG is new for each call, so that no client id is taken
    over from an earlier call's connection still closing."""
    tag = os.urandom(3).hex()
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            socks.append(mqtt_subscriber(port, key, f"{prefix}-{tag}-{i}", f"{prefix}/{tag}/{i}"))
    except BaseException:
        close_all(socks)
        raise
    return socks


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data
