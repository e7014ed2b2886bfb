"""Writing what a client asked for itself (the retained values of a new
subscription) as fast as the socket takes it, not through the queue's
limits: the part of an MQTT connection (connection.py) that paces a replay.

A new client's CONNACK and SUBACK, queued just before, go out in the same
write as its retained values; when the socket takes all of it at once (most
replays are small) no task is made, else the rest is written by one that
awaits the stream, and what comes meanwhile waits behind it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable

from tornado.iostream import IOStream, StreamClosedError


class Paced:
    """Mixin of MqttConnection (which sets these in its ``__init__``)."""

    _paced: list[bytes] | None
    _pacer: asyncio.Future[None] | None
    _replaying: bool
    _paced_counted: int
    _replayed: int
    _queue: list[bytes] | None  # QueuedSocket's: None once stopped
    _socket: Any
    _wrap: Callable[[bytes], bytes] | None
    direct: bool
    bridge: bool
    closed: bool
    stream: IOStream

    if TYPE_CHECKING:
        def take_queue(self) -> list[bytes]: ...  # QueuedSocket's

    def pace(self) -> None:
        """From now until what is sent meanwhile is written: paced by the
        socket, not the queue's limits (a new subscription's retained values,
        once: a replay asked for while one is written counts as live)."""
        if self._paced is None:
            # What was queued goes first, in the same write (a new client's
            # CONNACK and SUBACK with its retained values: one send, not two).
            self._paced = self.take_queue()
            self.direct = False
            self._paced_counted = self._replayed = 0
            self._replaying = True

    def end_pace(self) -> None:
        self._replaying = False
        if self._queue is None:  # stopped meanwhile (over a limit, or closing): nothing more goes out
            if self._pacer is None or self._pacer.done():
                self._paced = None
            return
        if self._paced is not None and (self._pacer is None or self._pacer.done()):
            # Most replays are small: what the socket takes at once needs no task.
            data = b"".join(self._paced)
            rest = self._send_now(data) if data else None
            if rest is None:
                self._paced = None
                self.direct = not self.bridge
                return
            self._paced = []
            self._pacer = asyncio.ensure_future(self._write_paced(rest))

    def _send_now(self, data: bytes) -> bytes | None:
        """Send ``data`` (wrapped) on a plain socket with nothing before it in
        the stream; what is left to write (all of it on TLS), or None."""
        if self._wrap is not None:
            data = self._wrap(data)
        stream = self.stream
        if self._socket is None or stream._write_buffer or self.closed:
            return data
        try:
            sent = self._socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # the stream sees the failure when it writes the rest
        return None if sent == len(data) else data[sent:]

    async def _write_paced(self, first: bytes) -> None:
        try:
            await self.stream.write(first)
            while self._paced and not self.closed:
                data, self._paced = b"".join(self._paced), []
                await self.stream.write(data if self._wrap is None else self._wrap(data))
        except StreamClosedError:
            pass
        finally:
            self._paced = None
            self.direct = not self.bridge
