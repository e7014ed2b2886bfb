"""Finding dead peers: websocket pings for clients that answer them, TCP
keepalive for every socket.

The existing Python client's publish socket never reads, so it never answers
a ping (PROTOCOL.md): dropping it for a missing pong would cut off working
devices. So a connection is dropped for a missed pong only once it has shown
that it answers pings (it has sent a pong before) or opted into the newer
protocol (``?protocol=2``). Dead peers of the other kind are found by TCP
keepalive, which the kernel does without any help from the client.

Such a publish socket is not pinged at all. A ping it never reads stays in
its receive buffer, and a socket closed with unread data is reset: the
client's kernel sends RST and throws away what it had not yet sent. A script
that writes a burst of readings and exits would lose the end of it.

One hub-wide timer pings every websocket; there is no timer per connection.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPConnection, HTTPMessageDelegate
from tornado.ioloop import PeriodicCallback
from tornado.websocket import WebSocketClosedError

from .openfiles import near_open_files_limit
from .pending import Pending

log = logging.getLogger("picloud.keepalive")

#: Pings a client that answers pings may leave unanswered in a row: one late
#: pong from a busy device is not a dead peer.
MISSED_PINGS = 2

# A dead peer is noticed after about TCP_IDLE + TCP_INTERVAL * TCP_COUNT seconds.
TCP_IDLE = 60
TCP_INTERVAL = 10
TCP_COUNT = 5


#: Whether an accepted socket starts with the options of the socket that
#: listened: Linux makes it as a copy of that one (keepalive and TCP_NODELAY
#: included), so they are set once per port rather than once per connection.
INHERITS_OPTIONS = sys.platform.startswith("linux")


def _keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", TCP_IDLE), ("TCP_KEEPINTVL", TCP_INTERVAL), ("TCP_KEEPCNT", TCP_COUNT)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def set_tcp_keepalive(sock: socket.socket) -> None:
    try:
        _keepalive(sock)
    except OSError:
        pass  # e.g. the peer already went away; nothing to keep alive


def keep_alive_listening(sockets: list[socket.socket]) -> bool:
    """TCP keepalive and TCP_NODELAY set on listening sockets, for the
    sockets they accept to start with; False (each accepted socket must get
    them itself) where they do not, or where a socket refused them."""
    if not INHERITS_OPTIONS:
        return False
    try:
        for sock in sockets:
            _keepalive(sock)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return False
    return True


class KeepaliveHTTPServer(HTTPServer):
    """An HTTPServer that turns on TCP keepalive for every accepted socket,
    and hangs up at once on connections that would use the last few file
    descriptors (once accept() fails with EMFILE, Tornado's accept handler
    raises on every loop turn and the hub spins) or that would go over the
    caps of ``pending`` (server/pending.py)."""

    pending: Pending | None = None
    #: Whether every listening socket has keepalive for the accepted ones to inherit.
    inherited = True

    def initialize(self, *args: Any, pending: Pending | None = None, **kwargs: Any) -> None:
        self.pending = pending
        super().initialize(*args, **kwargs)

    def add_sockets(self, sockets: Any) -> None:
        sockets = list(sockets)
        self.inherited = keep_alive_listening(sockets) and self.inherited
        super().add_sockets(sockets)

    def handle_stream(self, stream: Any, address: tuple[Any, ...]) -> None:
        if near_open_files_limit(stream.socket.fileno()):
            log.warning("out of file descriptors: refusing a connection from %s", address[0])
            stream.close()
            return
        if self.pending is not None and not self.pending.admit(stream, str(address[0])):
            stream.close()
            return
        if not self.inherited:
            set_tcp_keepalive(stream.socket)
        self.serve_stream(stream, address)

    def serve_stream(self, stream: Any, address: tuple[Any, ...]) -> None:
        """Serve an admitted connection (server/direct.py takes some first)."""
        super().handle_stream(stream, address)

    def start_request(self, server_conn: Any, request_conn: HTTPConnection) -> HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        pending = self.pending
        if pending is None or not pending.is_pending(server_conn.stream):
            return delegate
        if pending.overdue(server_conn.stream):
            # Past its time after a request KeyDue could not mark (a refused
            # upgrade, HTTP/1.0): closed now, between two requests.
            server_conn.stream.close()
            return delegate
        return KeyDue(delegate, pending, server_conn.stream, request_conn)

    def on_close(self, server_conn: Any) -> None:
        if self.pending is not None:
            self.pending.settle(server_conn.stream)
        super().on_close(server_conn)


class KeyDue(HTTPMessageDelegate):
    """A request on a connection that has not shown a valid key yet. If its
    headers come after the connection's time to show one
    (``Pending.overdue``), it is answered as any other, with ``Connection:
    close``, and the connection closes after it: announced, so that a client
    or a proxy reusing the connection sends nothing more on it. Tornado's
    ``HTTP1Connection._disconnect_on_finish``, set from the request's own
    headers just before these are handed on, is what it does that with
    (pinned by tests/server/test_pending.py). Not for an upgrade, whose 101
    Tornado would then send with ``Connection: close``, nor for HTTP/1.0,
    which Tornado answers ``Keep-Alive`` whatever the flag says: those are
    closed before their next request instead (``start_request``)."""

    def __init__(self, delegate: HTTPMessageDelegate, pending: Pending, stream: Any,
                 request_conn: HTTPConnection) -> None:
        self.delegate = delegate
        self.pending = pending
        self.stream = stream
        self.request_conn = request_conn

    def headers_received(self, start_line: Any, headers: Any) -> Any:
        if start_line.version == "HTTP/1.1" and "Upgrade" not in headers and self.pending.overdue(self.stream):
            log.debug("closing a connection that showed no key in %gs after this request", self.pending.key_timeout)
            self.request_conn._disconnect_on_finish = True  # type: ignore[attr-defined]
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class Pingable(Protocol):
    """What the pinger reads and sets on a websocket (server/sockets.py)."""

    request: Any
    reads: bool
    answers_pings: bool
    ping_outstanding: bool
    missed_pings: int

    def ping(self, data: bytes = ...) -> None: ...
    def abort(self) -> None: ...
    def describe(self) -> str: ...


class Pinger:
    """Each ``interval`` seconds, pings every websocket whose client reads it.

    A connection that answers pings (see module docstring) and has left
    MISSED_PINGS in a row unanswered is aborted.
    """

    def __init__(self, sockets: AbstractSet[Pingable], interval: float) -> None:
        self.sockets = sockets
        self.interval = interval
        self._timer: PeriodicCallback | None = None
        self.dropped = 0

    def start(self) -> None:
        if self._timer is None and self.interval > 0:
            self._timer = PeriodicCallback(self.tick, self.interval * 1000)
            self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def tick(self) -> None:
        for sock in list(self.sockets):
            if not (sock.reads or sock.answers_pings):
                continue
            if sock.ping_outstanding:
                sock.missed_pings += 1
            if sock.answers_pings and sock.missed_pings >= MISSED_PINGS:
                self.dropped += 1
                log.info("no pong from %s %s: dropping it", sock.request.path, sock.describe())
                sock.abort()
                continue
            try:
                sock.ping()
            except WebSocketClosedError:
                continue
            sock.ping_outstanding = True


def on_pong(sock: Pingable) -> None:
    sock.ping_outstanding = False
    sock.missed_pings = 0
    sock.answers_pings = True
