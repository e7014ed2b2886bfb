"""A Tornado stream whose reads a reader does itself (server/reader.py for
the websockets, server/mqtt/direct.py for MQTT over plain TCP).

The stream keeps its socket, its writes and its closing. Its READ events
call the reader's handler instead of Tornado's ``_handle_read``, and a
future of the reader's stands in for ``_read_future``: it keeps the stream's
READ interest (``IOStream._handle_events`` keeps it while ``reading()``), and
``close()`` fails it with StreamClosedError, which is how the reader hears
that the stream closed. Tornado internals (``_handle_read``,
``_read_future``, ``_add_io_state``), pinned by setup.cfg's range and
tests/server/test_reader.py.

``write_now`` is the other direction: a short write (a 101, a close frame)
sent straight to the socket when nothing waits before it.
"""

from __future__ import annotations

from typing import Any, Callable

from tornado.concurrent import Future
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError

READ_CHUNK = 64 * 1024  # Tornado's read_chunk_size: one socket read at most
# Then other connections get their turn: 256 KiB of one peer's packets is
# a few milliseconds of the loop; the socket, still readable, is read again
# on the next turn.
MAX_CHUNKS_PER_EVENT = 4



def take_reads(stream: IOStream, handle_read: Callable[[], None],
               on_closed: Callable[[Future[Any]], None]) -> Future[Any]:
    """Read ``stream`` with ``handle_read`` from now on; ``on_closed`` hears
    the stream close. Returns the stand-in future, for ``give_back_reads``."""
    closed: Future[Any] = Future()
    closed.add_done_callback(on_closed)
    stream._read_future = closed
    stream._handle_read = handle_read  # type: ignore[method-assign]
    stream._add_io_state(IOLoop.READ)
    return closed


def give_back_reads(stream: IOStream, closed: Future[Any]) -> None:
    """Tornado reads ``stream`` again (``closed`` is what ``take_reads`` returned)."""
    if stream._read_future is closed:
        stream._read_future = None
    del stream._handle_read


def receive(stream: IOStream, sock: Any) -> bytes | None:
    """One chunk of what the socket holds, or None: it holds nothing now, or
    the stream is closed (an error or the peer's end, which the reader hears
    through the future ``take_reads`` gave it)."""
    try:
        data: bytes = sock.recv(READ_CHUNK)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        stream.close(exc_info=exc)
        return None
    if not data:
        stream.close()
        return None
    return data


def write_now(stream: IOStream, data: bytes) -> None:
    """Write to a plain socket directly when nothing waits before it, as
    server/outbox.py does; through the stream otherwise (TLS, a full buffer)."""
    if type(stream) is IOStream and not stream._write_buffer:
        try:
            sent = stream.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # the stream sees the failure and closes
        if sent == len(data):
            return
        data = data[sent:]
    try:
        stream.write(data)
    except StreamClosedError:
        pass
