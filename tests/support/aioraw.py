"""The raw websocket client of rawws.py on asyncio streams, for tests that
run hundreds of connections at once."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

from tests.support.rawws import OP_CLOSE, OP_TEXT, encode_client_frame, upgrade_request


class AioRaw:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, path: str, key: str) -> AioRaw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request(path, {"X-API-Key": key}))
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"101":
            writer.close()
            raise ConnectionError(f"upgrade refused: {head.splitlines()[0]!r}")
        return cls(reader, writer)

    def send_json(self, value: object) -> None:
        self.writer.write(encode_client_frame(OP_TEXT, json.dumps(value).encode()))

    def send_text(self, text: str) -> None:
        self.writer.write(encode_client_frame(OP_TEXT, text.encode()))

    async def recv_frame(self) -> tuple[int, bytes] | None:
        try:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None

    async def barrier(self) -> None:
        """Send a malformed frame and wait for its error: everything before it was handled."""
        self.send_text("barrier")
        while True:
            frame = await self.recv_frame()
            if frame is None:
                raise ConnectionError("closed before the barrier")
            if frame[0] == OP_TEXT and b'"invalid json' in frame[1]:
                return

    async def close_cleanly(self) -> None:
        self.writer.write(encode_client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        await self.drain_to_eof()

    async def drain_to_eof(self) -> None:
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionResetError:
            pass
        self.writer.close()

    def reset(self) -> None:
        """Vanish with a TCP RST (SO_LINGER 0)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def half_close(self) -> None:
        """Send FIN but keep reading until the hub hangs up."""
        self.writer.write_eof()
        await self.drain_to_eof()
