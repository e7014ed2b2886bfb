"""Reading a plain TCP MQTT connection straight from its socket.

Through ``read_bytes(partial=True)`` every chunk costs a Future, a 64 KiB
buffer and two copies, and its callback runs a loop iteration later: at
QoS 1 with a small window a publisher's read holds one or two packets, so
that is most of what the hub spends per message. As server/reader.py does
for the websockets, the stream's ``_handle_read`` is pointed at
``_read_directly`` instead, which ``recv``s when the socket is readable and
hands each chunk to ``MqttConnection.received`` in the same loop iteration.
The stream still owns the socket, its writes and its closing; TLS streams
are read through Tornado as before.

The Tornado internals this relies on are server/reader.py's (``IOStream``'s
``_handle_read``, ``_read_future``, ``_read_buffer_size``,
``_add_io_state``), checked by tests/server/mqtt/test_direct.py too.
"""

from __future__ import annotations

from typing import Any

from tornado.concurrent import Future
from tornado.iostream import IOStream

from ..takeover import MAX_CHUNKS_PER_EVENT, give_back_reads, receive, take_reads


class DirectReading:
    """Mixin for MqttConnection: the socket read without Tornado's reads."""

    stream: IOStream
    closed: bool
    _closed_future: Future[Any] | None = None  # the stream's _read_future while reading directly

    def read_directly(self) -> bool:
        """Read the socket directly from now on; False where that cannot be
        (TLS, bytes Tornado already holds, a closed stream)."""
        stream = self.stream
        if type(stream) is not IOStream or stream._read_buffer_size or stream.closed():
            return False
        self._closed_future = take_reads(stream, self._read_directly, self._on_stream_closed)
        return True

    def _stop_reading_directly(self) -> None:
        if self._closed_future is not None:
            give_back_reads(self.stream, self._closed_future)
            self._closed_future = None

    def _on_stream_closed(self, future: Any) -> None:
        if future is self._closed_future:
            self._stop_reading_directly()
            self.close()

    def _read_directly(self) -> None:
        """The stream's READ handler. Reads until the socket is empty, as
        Tornado does: a reset right behind the data shows only on the next
        ``recv`` (server/reader.py says why that matters)."""
        stream = self.stream
        sock = stream.socket
        for _ in range(MAX_CHUNKS_PER_EVENT):
            data = receive(stream, sock)
            if data is None:
                return
            waiting = self.handle(data)
            if self.closed or stream.closed():
                return
            if waiting is not None:
                # Held back (--publish-rate): not read until it may go on.
                self._stop_reading_directly()
                waiting.add_done_callback(self.read_again)
                return
        # More is waiting: read on at the next turn (server/reader.py says why).
        stream.io_loop.add_callback(self._read_on)

    def _read_on(self) -> None:
        if self._closed_future is not None and not self.closed and not self.stream.closed():
            self._read_directly()

    # Provided by the host class.
    def handle(self, data: bytes) -> Future[None] | None:
        raise NotImplementedError

    def read_again(self, _: object = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
