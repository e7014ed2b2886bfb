"""Plain websocket upgrades read off the socket as it is accepted, before
Tornado's HTTP/1 connection is made.

server/upgrade.py spares a plain upgrade the RequestHandler, but Tornado's
reading of the request still costs about as much again: the connection's
request-loop coroutine (a task, a loop turn later), the header read with
its timeout, ``HTTPHeaders.parse`` line by line, the routing delegate. A
device's request has often arrived by the time its connection is accepted,
so the server looks at it there, with ``MSG_PEEK`` (and otherwise when its
first bytes come, within the handshake timeout): nothing is taken off the
socket unless the request is upgraded here. A complete request for
``/subscribe``, ``/publish`` or ``/info`` that this strict parser reads
(CRLF lines, ASCII, no folding, nothing a Tornado parse would refuse;
server/plainrequest.py) then goes through FastUpgrade's own checks;
anything else (a partial request, any other path or shape, a refusal, TLS,
``--xheaders``) is handed to Tornado's path with the socket as it was.

Tornado internals this relies on besides upgrade.py's and takeover.py's
(pinned by tests/server/test_direct.py): ``httpserver._HTTPRequestContext``
and what ``HTTPServer.handle_stream`` does with it (an
``HTTP1ServerConnection`` added to ``_connections``, ``start_serving``),
the server's ``conn_params``, ``protocol`` and ``trusted_downstream``,
and ``HTTP1Connection.params``, read when the headers are read.
"""

from __future__ import annotations

import copy
import socket
from typing import Any

from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters, HTTP1ServerConnection
from tornado.httpserver import HTTPServer, _HTTPRequestContext
from tornado.httputil import (
    HTTPConnection,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
)
from tornado.iostream import IOStream
from tornado.log import app_log

from .app import UPGRADES, PiCloudApp
from .keepalive import KeepaliveHTTPServer
from .plainrequest import build_request, parse
from .takeover import give_back_reads, take_reads
from .upgrade import FastUpgrade

#: What one peek may see: a device's upgrade request is a few hundred bytes.
PEEK_BYTES = 4096
UNUSED = HTTPMessageDelegate()  # FastUpgrade's fallback, never called here


class DirectUpgradeServer(KeepaliveHTTPServer):
    """The hub's HTTP server: plain websocket upgrades done as accepted.

    A connection whose request has not arrived when it is accepted waits for
    its first bytes here, for at most the handshake timeout (on expiry it is
    closed, as Tornado closes one without headers), then takes either path;
    Tornado's is given what is left of that timeout for the headers.
    """

    #: Upgrades done here (the rest took Tornado's path).
    upgraded = 0

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._waiting: dict[IOStream, Waiting] = {}
        # FastUpgrade is the hub application's: over any other, Tornado's path only.
        self.direct = isinstance(self.request_callback, PiCloudApp)

    def serve_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        # TLS must be read through the stream, and --xheaders rewrites the
        # context from the request's headers: both stay on Tornado's path.
        if type(stream) is not IOStream or self.xheaders or not self.direct:
            super().serve_stream(stream, address)
            return
        done = upgrade_now(self, stream, address)
        if done is None:
            self._waiting[stream] = Waiting(self, stream, address)
        elif not done:
            super().serve_stream(stream, address)

    def readable(self, waiting: Waiting) -> None:
        """The first bytes came (or the peer closed): one path or the other."""
        stream = waiting.stream
        if self._waiting.pop(stream, None) is None:
            return
        waiting.stop()
        params = self.conn_params
        timeout = params.header_timeout
        if timeout is not None:
            left = waiting.deadline - stream.io_loop.time()
            if left <= 0:
                self.expired(stream)
                return
        if upgrade_now(self, stream, waiting.address):
            return
        # HTTPServer.handle_stream, with the time already waited counted
        # against the first request's headers only.
        context = _HTTPRequestContext(stream, waiting.address, self.protocol, self.trusted_downstream)
        connection = HTTP1ServerConnection(stream, params, context)
        self._connections.add(connection)
        connection.start_serving(self if timeout is None else FirstHeadersDue(self, left))

    def timed_out(self, waiting: Waiting) -> None:
        if self._waiting.pop(waiting.stream, None) is not None:
            waiting.stop()
            self.expired(waiting.stream)

    def expired(self, stream: IOStream) -> None:
        """Closed without an answer: no request within the handshake
        timeout, the hub stopping, or an upgrade that failed on the way."""
        if self.pending is not None:
            self.pending.settle(stream)
        stream.close()

    def stop(self) -> None:
        super().stop()
        # Now, not after the shutdown's drain: a request that came during it
        # would be upgraded once the hub had closed the sockets it knew of.
        self._expire_waiting()

    async def close_all_connections(self) -> None:
        self._expire_waiting()  # they are in no HTTP/1 connection's list
        await super().close_all_connections()

    def _expire_waiting(self) -> None:
        while self._waiting:
            stream, waiting = self._waiting.popitem()
            waiting.stop()
            self.expired(stream)


class FirstHeadersDue(HTTPServerConnectionDelegate):
    """The server, for a connection that waited for its first bytes: its
    first request's headers are due within what is left of the handshake
    timeout; the requests after it on a keep-alive connection get the whole
    idle timeout, as on any other connection."""

    def __init__(self, server: HTTPServer, left: float) -> None:
        self.server = server
        self.first: HTTP1ConnectionParameters | None = copy.copy(server.conn_params)
        self.first.header_timeout = left

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> HTTPMessageDelegate:
        if self.first is not None:
            # Read by HTTP1Connection when it reads the headers, not before.
            request_conn.params, self.first = self.first, None  # type: ignore[attr-defined]
        return self.server.start_request(server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        self.server.on_close(server_conn)


class Waiting:
    """A connection waiting for its first bytes: its stream's READ events
    taken over (server/takeover.py), so the poller's registration is the
    one the stream keeps for whoever reads it next, and a timer."""

    __slots__ = ("address", "closed", "deadline", "server", "stream", "timer")

    def __init__(self, server: DirectUpgradeServer, stream: IOStream, address: Any) -> None:
        self.server = server
        self.stream = stream
        self.address = address
        self.closed = take_reads(stream, self.readable, self.lost)
        timeout = server.conn_params.header_timeout
        self.deadline = stream.io_loop.time() + (timeout or 0.0)
        self.timer = None if timeout is None else stream.io_loop.call_at(self.deadline, server.timed_out, self)

    def readable(self) -> None:
        self.server.readable(self)

    def lost(self, closed: Any) -> None:
        """The stream closed while waiting (an error event): as Tornado's
        path ends a connection that closed before its request."""
        if self.server._waiting.pop(self.stream, None) is not None:
            self.stop()
            self.server.expired(self.stream)

    def stop(self) -> None:
        give_back_reads(self.stream, self.closed)
        if self.timer is not None:
            self.stream.io_loop.remove_timeout(self.timer)


def upgrade_now(server: DirectUpgradeServer, stream: IOStream, address: Any) -> bool | None:
    """Whether this path took the connection: its request was a plain
    upgrade, now done (counted in ``upgraded``), or it failed on the way and
    the connection is closed. False: nothing was read, counted or answered,
    the request is Tornado's; None: nothing came yet."""
    sock = stream.socket
    try:
        data = sock.recv(PEEK_BYTES, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    except OSError:  # a reset: Tornado's path sees it
        return False
    parsed = parse(data)
    if parsed is None:
        return False
    length, start_line, headers = parsed
    route = UPGRADES.get(start_line.path.partition("?")[0])
    if route is None:
        return False
    context = _HTTPRequestContext(stream, address, server.protocol, server.trusted_downstream)
    connection = HTTP1Connection(stream, False, server.conn_params, context)
    try:
        request = build_request(connection, start_line, headers)
    except HTTPInputError:  # a Host Tornado refuses: its path answers it
        return False
    fast = FastUpgrade(server.request_callback, request, route, UNUSED)
    try:
        admission = fast.admission(start_line, headers)
        if admission is None:
            return False
        # Only now is the request taken off the socket: the peeked bytes are
        # there, so one read of its length takes exactly it.
        try:
            taken = sock.recv(length)
        except OSError:
            taken = b""  # a reset between the peek and the read: the peer is gone
        if taken != data[:length]:
            server.expired(stream)  # quietly, as Tornado's path ends a connection that reset
            return True
        fast.upgrade(admission, headers)
    except Exception:
        # What Tornado's path does when a delegate raises: log, hang up.
        app_log.error("Uncaught exception %s %s (%s)", "GET", request.path, request.remote_ip, exc_info=True)
        server.expired(stream)
        return True
    server.upgraded += 1
    return True
