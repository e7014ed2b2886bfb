"""Incoming websocket frames, read in chunks and parsed by picloud.wire.frameparser.

Tornado reads a websocket one frame at a time, awaiting a coroutine for the
header, the mask and the payload of each: a publisher sending many small
messages spends most of the hub's time there. ``ReaderProtocol`` keeps
Tornado's handshake, writing, pings and close handshake, and replaces only
the receive loop: one ``read_bytes(partial=True)`` per chunk of whatever the
socket has, every complete frame in it parsed by one ``FrameParser.feed``,
and messages handed straight to the handler's ``on_message``.

The loop is a callback chain, not a coroutine: once ``open()`` has run,
Tornado's handshake task finishes and its coroutine frames are freed, so an
idle connection holds one pending read future and a small parser.

On a plain (non-TLS) socket even ``read_bytes`` is skipped (each chunk would
cost a 64 KiB buffer, two copies, a Future and a loop iteration): the
stream's reads are taken over (takeover.py) by ``_read_directly``, which
``recv``s when the socket is readable and parses each chunk at once.

Tornado internals this relies on (pinned by setup.cfg's ``tornado`` range,
checked by tests/server/test_reader.py):

- ``WebSocketHandler.get_websocket_protocol()`` builds the protocol object, a
  ``WebSocketProtocol13(handler, mask_outgoing, params)``; ``ReaderMixin``
  builds ours from the same three.
- ``WebSocketProtocol13._accept_connection`` awaits ``_receive_frame_loop()``
  after ``open()``; that coroutine is what is replaced here.
- Reused as they are: ``close()`` (close frames, the 5 s close timeout; a
  peer's close is answered by ``_echo_close``, which writes the frame first),
  ``_abort()``, ``_write_frame()`` (pongs, one outstanding at most: see
  ``_answer_ping``), ``_run_callback()``, and the attributes
  ``client_terminated``, ``server_terminated``, ``close_code``,
  ``close_reason``, ``_received_pong``, read by the ping timeout,
  ``params.max_message_size`` and ``_decompressor``.
- ``handler.on_ws_connection_close(code, reason)`` runs ``on_close`` once.
- Reading directly: takeover.py's, and ``_read_buffer_size``.
- After ``open()``, ``upgraded.release_upgrade_state`` replaces
  ``handler.request`` with the few fields still read and drops the HTTP
  response state; see there.
"""

from __future__ import annotations

import logging
import sys
from operator import itemgetter
from typing import Any, Callable, cast

from tornado import gen
from tornado.concurrent import Future
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketProtocol13

from ..wire.frameparser import BINARY, CLOSE, FAIL, PING, PONG, TEXT, Event, FrameParser, Unmask, native, unmask_python
from .takeover import MAX_CHUNKS_PER_EVENT, READ_CHUNK, give_back_reads, receive, take_reads, write_now
from .upgraded import release_upgrade_state

_DATA_KINDS = frozenset((TEXT, BINARY))
_KIND_OF = itemgetter(0)

UNMASK: Unmask = unmask_python
try:
    # Tornado's C helper; it is what Tornado itself unmasks with.
    from tornado.speedups import websocket_mask as UNMASK
except ImportError:  # pragma: no cover - built without the extension
    pass
if native is not None:
    # Ours where built: as fast as Tornado's up to 1 KiB, 1.5 times as fast
    # at 64 KiB (3.0 against 4.6 us). It unmasks only what the C loop leaves
    # to Python: control frames and fragments.
    UNMASK = native.unmask

log = logging.getLogger("picloud.reader")


class ReaderProtocol(WebSocketProtocol13):
    """WebSocketProtocol13 with a chunked, parse-many-frames-at-once reader."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set here, not later, so instances keep one shared attribute layout.
        self._parser: FrameParser | None = None
        self._paused: tuple[list[Event], int] | None = None  # events left while on_message awaits
        self._done = False
        self._socket: Any = None  # set for plain sockets, which are read directly
        self._closed: Future[Any] | None = None  # the stream's _read_future while reading directly
        # A handler's on_messages takes every message of one read at once
        # (one pass through the hub for a publisher's burst); see _dispatch.
        self._on_messages: Callable[[list[str | bytes]], None] | None = None
        self._pong_out: Future[None] | None = None  # the pong being written
        self._next_pong: bytes | None = None  # the latest ping's, waiting for it

    async def _receive_frame_loop(self) -> None:
        if self._decompressor is not None:
            # permessage-deflate (only if a handler enables compression):
            # Tornado's reader knows how to inflate.
            await super()._receive_frame_loop()
            return
        self.start_reading()

    def start_reading(self) -> None:
        """Read frames from now on: what runs after ``open()`` (also on
        server/upgrade.py's path, which has no coroutine to await this in)."""
        release_upgrade_state(self.handler)
        self._on_messages = getattr(self.handler, "on_messages", None)
        # The hub's budget for partial messages, where the handler has one.
        budget = getattr(self.handler, "inbound_budget", None)
        self._parser = FrameParser(self.params.max_message_size, UNMASK, budget)
        if type(self.stream) is IOStream:  # TLS must go through the stream's reads
            self._socket = self.stream.socket
        self._read()

    # -- reading -------------------------------------------------------------

    def _read(self) -> None:
        stream = self.stream
        if self._socket is not None and not stream._read_buffer_size and not stream.closed():
            self._read_directly_from_now_on()
            return
        try:
            # Declared an Awaitable; it is a Future.
            future = cast("Future[bytes]", self.stream.read_bytes(READ_CHUNK, partial=True))
        except StreamClosedError:
            self._lost()
            return
        # Even when the data is already there the callback runs on the next
        # loop iteration: one chunk per turn keeps a flooding peer fair.
        future.add_done_callback(self._on_read)

    def _on_read(self, future: Any) -> None:
        try:
            data = future.result()
        except StreamClosedError:
            self._lost()
            return
        if self._handle(data):
            self._read()

    def _handle(self, data: bytes) -> bool:
        """Parse a chunk and handle its frames; whether reading goes on now."""
        parser = self._parser
        if parser is None:
            return False
        try:
            events = parser.feed(data)
            return not events or self._dispatch(events, 0)
        except Exception:
            # A bug here must not leave a connection that nobody reads.
            log.exception("reader failed on %s", _describe(self.handler))
            self._stop_reading_directly()
            self._lost()
            return False

    # -- reading the socket directly (plain sockets) -----------------------------

    def _read_directly_from_now_on(self) -> None:
        self._closed = take_reads(self.stream, self._read_directly, self._on_stream_closed)

    def _stop_reading_directly(self) -> None:
        if self._closed is not None:
            give_back_reads(self.stream, self._closed)
            self._closed = None

    def _on_stream_closed(self, future: Any) -> None:
        if future is self._closed:
            self._stop_reading_directly()
            self._lost()

    def _read_directly(self) -> None:
        """The stream's READ handler: what the socket holds, parsed and handled now.

        Reads until the socket is empty, as Tornado does, rather than one
        chunk per event: a reset that came right behind the data shows only
        on the next ``recv``, and uvloop (libuv) stops polling a socket once
        it reports the error, so waiting for another event would leave the
        connection open for good.
        """
        sock = self._socket
        stream = self.stream
        for _ in range(MAX_CHUNKS_PER_EVENT):
            data = receive(stream, sock)
            if data is None:
                return
            if not self._handle(data):
                # Paused by a coroutine on_message (``_resume`` reads again), or done.
                self._stop_reading_directly()
                return
            if stream.closed():
                return
        # More is waiting: read on at the next turn, not at the next event,
        # which under uvloop never comes for a socket whose reset is queued.
        stream.io_loop.add_callback(self._read_on)

    def _read_on(self) -> None:
        if self._closed is not None and not self.stream.closed():
            self._read_directly()

    @staticmethod
    def _controls(events: list[Event]) -> bool:
        """Whether any of ``events`` is not a data message (a ping, a close, a failure)."""
        return not _DATA_KINDS.issuperset(map(_KIND_OF, events))

    def _dispatch(self, events: list[Event], index: int) -> bool:
        """Handle ``events[index:]``; False if reading must not go on (yet)."""
        handler = self.handler
        on_messages = self._on_messages
        count = len(events)
        i = index
        while i < count:
            kind, value = events[i]
            i += 1
            if kind == TEXT or kind == BINARY:
                if self.client_terminated:
                    continue
                if on_messages is not None:
                    if i == 1 and count > 1 and not self._controls(events):  # the common read: data frames only
                        messages = [event[1] for event in events]
                        i = count
                    else:
                        messages = [value]
                        while i < count and events[i][0] in (TEXT, BINARY):
                            messages.append(events[i][1])
                            i += 1
                    try:
                        on_messages(messages)
                    except Exception:
                        handler.log_exception(*sys.exc_info())
                        self._lost()
                        return False
                    continue
                try:
                    result = handler.on_message(value)
                except Exception:
                    handler.log_exception(*sys.exc_info())
                    self._lost()
                    return False
                if result is not None:
                    # A coroutine on_message: the next message waits for it,
                    # as with Tornado's reader.
                    self._paused = (events, i)
                    gen.convert_yielded(result).add_done_callback(self._resume)
                    return False
            elif kind == PING:
                self._answer_ping(value)
                self._run_callback(handler.on_ping, value)
            elif kind == PONG:
                self._received_pong = True  # what Tornado's ping timeout reads
                self._run_callback(handler.on_pong, value)
            elif kind == CLOSE:
                code, reason = value
                self.client_terminated = True
                if self.close_code is None:  # else it holds our failure code
                    self.close_code = code
                    self.close_reason = reason or None
                self._echo_close(code)
                self._finish()
                return False
            elif kind == FAIL:
                code, reason = value
                log.info("closing %s: %s (%d)", _describe(handler), reason, code)
                self.close_code, self.close_reason = code, reason
                # Keep reading: the parser skips what follows and reports the
                # peer's answering close; Tornado's close timeout aborts a
                # peer that never answers.
                self.close(code, reason)
        return True

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Tornado's ``close``, after which nothing more is sent: no data
        frame may follow the hub's close frame (RFC 6455 5.5.1), and the
        handler's queue would go on writing until the peer answers."""
        if not self.server_terminated:
            stop_queue = getattr(self.handler, "stop_queue", None)
            if stop_queue is not None:
                stop_queue()  # close_gracefully flushed what was queued before this
        super().close(code, reason)

    def _echo_close(self, code: int | None) -> None:
        """The peer's close answered (RFC 6455 5.5.1), then the socket closes:
        Tornado's ``close``, with the frame written straight to the socket."""
        if not self.server_terminated and not self.stream.closed():
            self.server_terminated = True
            write_now(self.stream, b"\x88\x00" if code is None else b"\x88\x02" + code.to_bytes(2, "big"))
        self.close(code)

    def _answer_ping(self, data: bytes) -> None:
        """A pong, with at most one being written: to a peer that pings and
        never reads, pongs would pile up in the stream's buffer without
        bound. RFC 6455 5.5.3 lets a pong answer only the latest of the pings
        received meanwhile. Tornado 6.6's ``_send_pong`` does the same; 6.5's
        writes every pong, so the hub does it itself on both."""
        if self._pong_out is not None:
            self._next_pong = data
            return
        self._next_pong = None
        if self.server_terminated:
            return  # nothing may follow the close frame
        try:
            written = self._write_frame(True, PONG, data)
        except StreamClosedError:
            self._abort()
            return
        if not written.done():
            self._pong_out = written
            written.add_done_callback(self._pong_written)

    def _pong_written(self, written: Future[None]) -> None:
        self._pong_out = None
        data, self._next_pong = self._next_pong, None
        if data is not None and not written.cancelled() and written.exception() is None:
            self._answer_ping(data)

    def _resume(self, future: Any) -> None:
        try:
            future.result()
        except Exception:
            self.handler.log_exception(*sys.exc_info())
            self._lost()
            return
        paused, self._paused = self._paused, None
        if paused is not None and not self._done and self._dispatch(*paused):
            self._read()

    # -- ending ----------------------------------------------------------------

    def _lost(self) -> None:
        """The stream closed or must close now."""
        self._abort()
        self._finish()

    def on_connection_close(self) -> None:
        self._release()
        super().on_connection_close()

    def _release(self) -> None:
        if self._parser is not None:
            self._parser.release()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._release()
        self._parser = None
        self._paused = None
        self.handler.on_ws_connection_close(self.close_code, self.close_reason)


def _describe(handler: Any) -> str:
    describe = getattr(handler, "describe", None)
    return describe() if describe is not None else repr(handler)


class ReaderMixin:
    """Put before WebSocketHandler in a handler's bases to use ReaderProtocol."""

    def get_websocket_protocol(self) -> WebSocketProtocol13 | None:
        protocol = super().get_websocket_protocol()  # type: ignore[misc]
        if type(protocol) is not WebSocketProtocol13:
            return protocol
        return ReaderProtocol(protocol.handler, protocol.mask_outgoing, protocol.params)
