"""Outgoing frames: queued per connection, coalesced, written once per loop turn.

Fan-out to N subscribers would otherwise cost N ``write_message`` calls per
message, each framing the payload again and allocating a Future. Instead a
published message is framed once (``Message.frame``) and each subscriber only
appends those bytes to its queue. One callback per event-loop iteration then
writes each dirty connection's queue with a single ``send``.

Slow consumers: websockets (the library) documents that its ``broadcast()``
has no backpressure and skips peers that are not keeping up; the hub must do
likewise or one stalled device grows memory without bound and, through it,
delays everyone. So every connection has a byte limit (our queue plus what
the stream has not yet sent) and all connections share a total budget. A
connection over its limit is either disconnected (close 1013, aborted if the
close does not complete within ABORT_AFTER seconds) or, with policy ``drop``,
kept while new frames for it are dropped and counted until it catches up.

This module relies on two Tornado internals, pinned by setup.cfg's
``tornado`` range and exercised by tests/server/test_outbox.py:
``IOStream._write_buffer`` (its length is the stream's unsent bytes; it is
None once closed) and ``IOStream.socket``. Direct socket writes happen only
on plain (non-TLS) streams whose buffer is empty, so bytes never overtake
what Tornado itself queued (pings, close frames).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from typing import Any, Callable, Protocol

from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, SSLIOStream, StreamClosedError

from ..config import SLOW_POLICIES
from ..wire.frames import encode_frame, text_frames

log = logging.getLogger("picloud.outbox")

ABORT_AFTER = 2.0


class Outbox:
    """Hub-wide bookkeeping: which connections have frames to write, and limits."""

    def __init__(
        self,
        max_queue_bytes: int = 1 << 20,
        max_total_queue_bytes: int = 64 << 20,
        slow_consumer: str = "disconnect",
    ) -> None:
        if slow_consumer not in SLOW_POLICIES:
            raise ValueError(f"unknown slow-consumer policy {slow_consumer!r}")
        self.max_queue_bytes = max_queue_bytes
        self.max_total_queue_bytes = max_total_queue_bytes
        self.disconnect_slow = slow_consumer == "disconnect"
        self.total_bytes = 0  # queued in connections' Outbox queues
        self.slow_consumers = 0  # connections that went over their limit
        self.dropped_frames = 0  # frames not queued under the drop policy
        self.flushes = 0  # loop iterations that wrote something
        self.writes = 0  # coalesced writes, one per dirty connection per flush
        self._dirty: list[QueuedSocket] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def mark_dirty(self, conn: QueuedSocket) -> None:
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            if self._loop is None:
                # asyncio's own call_soon: IOLoop.add_callback's checks and
                # partial cost more than the flush of a lone reading.
                self._loop = IOLoop.current().asyncio_loop  # type: ignore[attr-defined]
            try:
                self._loop.call_soon(self.flush)
            except RuntimeError:  # the loop is closed (shutting down): as IOLoop.add_callback, nothing runs
                pass

    def flush(self) -> None:
        """Write every dirty connection's queue; runs once per loop iteration."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        self.flushes += 1
        self.writes += len(dirty)
        for conn in dirty:
            conn.flush_queue()


class Framed(Protocol):
    """What a socket queues: a Message (hub/message.py), or a frame of its own."""

    @property
    def _frame(self) -> bytes | None: ...  # read first: the hot path skips a property call

    @property
    def frame(self) -> bytes: ...


class _Framed:
    """A frame that is not a published message (replies, errors)."""

    __slots__ = ("_frame",)

    def __init__(self, frame: bytes) -> None:
        self._frame = frame

    @property
    def frame(self) -> bytes:
        return self._frame


class QueuedSocket:
    """Mixin for a WebSocketHandler: a coalescing, bounded outgoing queue.

    The host class calls ``start_queue(outbox)`` once the websocket is open
    and ``stop_queue()`` when it closes.
    """

    _queue: list[bytes] | None = None
    _queued = 0  # bytes in _queue plus the stream's unsent bytes when last seen
    _pending = 0  # bytes in _queue only
    _dropping = False
    _stream: Any = None
    _socket: Any = None
    # What the queued bytes go out in, if not as they are (MQTT over
    # websockets: one binary frame per write).
    _wrap: Callable[[bytes], bytes] | None = None
    outbox: Outbox

    def start_queue(self, outbox: Outbox, stream: IOStream) -> None:
        self.outbox = outbox
        self._queue = []
        self._stream = stream
        # Frames are already coalesced once per loop iteration; Nagle would
        # only hold the next write back until the peer's (delayed) ACK.
        # Directly: IOStream.set_nodelay first asks the socket's family,
        # which costs more than the call (a socket of another family refuses it).
        try:
            stream.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass  # closed already (no socket), or not TCP
        # TLS must go through SSLIOStream; plain sockets can be written directly.
        self._socket = None if isinstance(stream, SSLIOStream) else stream.socket

    def stop_queue(self) -> None:
        """Discard whatever is queued; nothing is delivered after this."""
        if self._queue is not None:
            self.outbox.total_bytes -= self._pending
            self._queue = None
            self._pending = self._queued = 0

    def deliver(self, message: Framed) -> None:
        """Queue a published message's frame for this connection.

        The hot path of fan-out: called once per subscriber per message, so it
        reads the frame the message already built and does nothing else that
        could be done once per message.
        """
        queue = self._queue
        if queue is None:
            return
        frame = message._frame
        if frame is None:
            frame = message.frame
        outbox = self.outbox
        if not queue:
            # First frame since the last flush: look at what the stream still
            # holds, so a peer that stopped reading is seen at once.
            buffered = self._stream._write_buffer
            self._queued = len(buffered) if buffered is not None else 0
        size = len(frame)
        backlog = self._queued
        queued = backlog + size
        # A connection with nothing queued always gets its frame, however
        # large: the limits are about peers that are not keeping up.
        if backlog and (
            queued > outbox.max_queue_bytes
            or outbox.total_bytes + size > outbox.max_total_queue_bytes
            or (self._dropping and backlog > outbox.max_queue_bytes // 2)
        ):
            self._overflow()
            return
        if self._dropping:
            self._dropping = False
            log.info("slow consumer %s caught up", self.describe())
        if not queue:
            outbox.mark_dirty(self)
        queue.append(frame)
        self._queued = queued
        self._pending += size
        outbox.total_bytes += size

    def deliver_many(self, messages: Sequence[Framed]) -> None:
        """``deliver`` each of ``messages`` (one read's, of one event): queued
        at once when all of them fit, else one by one within the limits."""
        queue = self._queue
        if queue is None:
            return
        frames = text_frames(messages)  # type: ignore[arg-type]  # a Framed's _frame is read-only to it
        size = sum(map(len, frames))
        if not queue:
            buffered = self._stream._write_buffer
            self._queued = len(buffered) if buffered is not None else 0
        outbox = self.outbox
        backlog = self._queued
        if self._dropping or backlog + size > outbox.max_queue_bytes or \
                outbox.total_bytes + size > outbox.max_total_queue_bytes:
            for message in messages:
                self.deliver(message)
            return
        if not queue:
            outbox.mark_dirty(self)
        queue += frames
        self._queued = backlog + size
        self._pending += size
        outbox.total_bytes += size

    def send_payload(self, payload: bytes) -> None:
        """Queue a JSON payload (a reply, an error) as a text frame."""
        self.deliver(_Framed(encode_frame(payload)))

    def take_queue(self) -> list[bytes]:
        """What is queued, taken out (to be written some other way, in order)."""
        queue = self._queue
        if not queue:
            return []
        taken = queue[:]
        queue.clear()
        self.outbox.total_bytes -= self._pending
        self._pending = 0
        return taken

    def flush_queue(self) -> None:
        """Write everything queued with one ``send``, directly when that is safe."""
        queue = self._queue
        if not queue:
            return
        data = queue[0] if len(queue) == 1 else b"".join(queue)
        if self._wrap is not None:
            data = self._wrap(data)
        queue.clear()
        self.outbox.total_bytes -= self._pending
        self._pending = 0
        stream = self._stream
        buffered = stream._write_buffer
        if buffered is None:  # closed
            return
        sock = self._socket
        if sock is not None and not buffered:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                # Let the stream notice the failure and run its close path.
                sent = 0
            if sent == len(data):
                return
            data = memoryview(data)[sent:]  # type: ignore[assignment]  # stream.write takes either
        try:
            stream.write(data)
        except StreamClosedError:
            pass

    def _overflow(self) -> None:
        outbox = self.outbox
        if not outbox.disconnect_slow:
            outbox.dropped_frames += 1
            if not self._dropping:
                self._dropping = True
                outbox.slow_consumers += 1
                log.warning(
                    "slow consumer %s: over %d queued bytes, dropping frames until it catches up",
                    self.describe(), outbox.max_queue_bytes,
                )
            return
        outbox.slow_consumers += 1
        log.warning(
            "slow consumer %s: over %d queued bytes, disconnecting (1013)",
            self.describe(), outbox.max_queue_bytes,
        )
        self.stop_queue()
        self.close_slow()

    # Provided by the host class.
    def describe(self) -> str:
        raise NotImplementedError

    def close_slow(self) -> None:
        raise NotImplementedError

