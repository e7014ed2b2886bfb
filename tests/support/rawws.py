"""A deliberately primitive websocket client on a plain blocking socket.

It sends exactly the bytes a test asks for (bad frames included) and never
answers pings unless told to, which the real clients cannot be made to do.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

from tests.support.hub import KEY

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_client_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True,
    declared_length: int | None = None,
) -> bytes:
    length = len(payload) if declared_length is None else declared_length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def upgrade_request(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def read_head(sock: socket.socket) -> tuple[int, bytes]:
    """Read an HTTP response head; return ``(status, leftover bytes)``; 0 if closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return 0, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


class RawWS:
    def __init__(self, port: int, path: str, *, key: str | None = KEY, headers: dict | None = None,
                 timeout: float = 5.0, source: str | None = None) -> None:
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout, source_address=None if source is None else (source, 0))
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["X-API-Key"] = key
        self.sock.sendall(upgrade_request(path, all_headers))
        self.status, self._buffer = read_head(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes, **kwargs) -> None:
        self.sock.sendall(encode_client_frame(opcode, payload, **kwargs))

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode())

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def recv_frame(self) -> tuple[int, bytes] | None:
        """The next frame from the hub, or None once the connection is closed."""
        try:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            return first & 0x0F, self._read(length)
        except (EOFError, ConnectionResetError):
            return None

    def recv_until_close(self) -> int | None:
        """Read until the hub's close frame (its code) or EOF without one (None)."""
        while True:
            frame = self.recv_frame()
            if frame is None:
                return None
            opcode, payload = frame
            if opcode == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Abort with a TCP RST instead of a FIN (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def chunked_post(port: int, body: bytes, key: str = KEY) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"X-API-Key: " + key.encode() + b"\r\nX-API-Client-Name: c\r\n\r\n"
        )
        try:
            for start in range(0, len(body), 1000):
                piece = body[start:start + 1000]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the hub may hang up once it has answered
        status, rest = read_head(sock)
        return status, rest
