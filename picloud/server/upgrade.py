"""The websocket upgrade of ``/subscribe``, ``/publish`` and ``/info``,
served without Tornado's request machinery when the request is a plain one.

A device that reconnects costs the hub mostly Tornado's per-request work
before its first frame: the RequestHandler's ``_execute`` coroutine (a task
of its own, a loop turn later), ``prepare``, ``get()``'s header checks,
``accept_connection`` and its coroutine, the 101 built header by header and
flushed through the HTTP/1 connection, which then waits for the request to
finish. After a Wi-Fi drop every device does it at once.

For a plain upgrade request (GET over HTTP/1.1, ``Upgrade: websocket``,
``Connection: upgrade``, version 13, a key and a host; no body, no
subprotocol, no ``Origin`` or ``Sec-Fetch-Site``, which browsers send; a key
that may use the route, as ``access.assess`` says, and room under
``--max-connections``) this delegate does the upgrade as the headers arrive:
the same 101, byte for byte, written at once, the stream taken from the
HTTP/1 connection, then the handler's ``open()`` and the frame reader
(server/reader.py), as Tornado would. Anything else is handed to Tornado's
path unchanged, before anything is counted or answered, so its checks,
refusals, counters and messages stay the only ones.

Tornado internals this relies on (pinned by tests/server/test_upgrade.py):

- ``HTTP1Connection`` returns from reading a request at once when
  ``headers_received`` detached the stream (``if self.stream is None``), and
  ``detach()`` ends the request, so the server's request loop ends as it
  does after Tornado's own upgrade;
- what ``WebSocketHandler.get`` and ``WebSocketProtocol13._accept_connection``
  (and ``RequestHandler._execute``) set before ``open()``: ``path_args``,
  ``path_kwargs``, ``open_args``, ``open_kwargs``, ``ws_connection``, the
  protocol's ``stream`` and ``selected_subprotocol``, ``start_pinging()``, the
  handler's status (101) and ``_finished``;
- what ``RequestHandler.__init__`` and ``WebSocketHandler.__init__`` set,
  which ``build_handler`` sets itself (less the template namespace and the
  response headers, which an upgraded handler drops after ``open()``).
"""

from __future__ import annotations

import base64
import hashlib
import sys
from typing import Any

from tornado.httputil import HTTPHeaders, HTTPMessageDelegate, HTTPServerRequest, RequestStartLine
from tornado.websocket import WebSocketHandler

from .access import Admission, Refused, assess, presented_key
from .logs import log_request
from .publish import SERVER, http_date
from .sockets import HubSocket, has_room
from .takeover import write_now

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
#: Headers that make a request one for Tornado's path: a body, a
#: subprotocol to choose, a browser's (whose origin Tornado checks too).
UNUSUAL = ("Content-Length", "Transfer-Encoding", "Sec-WebSocket-Protocol", "Origin", "Sec-Fetch-Site")


def accept_value(nonce: str) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(nonce.encode("utf-8") + GUID).digest())


def switching(nonce: str) -> bytes:
    """The 101 Tornado sends, header for header."""
    return b"".join((
        b"HTTP/1.1 101 Switching Protocols\r\nServer: ", SERVER.encode(), b"\r\nDate: ", http_date().encode(),
        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-Websocket-Accept: ", accept_value(nonce),
        b"\r\n\r\n",
    ))


def is_plain(start_line: RequestStartLine, headers: HTTPHeaders) -> bool:
    """Whether the request's line and headers are those of a plain upgrade
    (see the module docstring); its key is not looked at here."""
    if start_line.method != "GET" or start_line.version != "HTTP/1.1":
        return False
    get = headers.get
    if get("Sec-WebSocket-Version") != "13" or get("Upgrade", "").lower() != "websocket":
        return False
    if not get("Sec-WebSocket-Key") or not get("Host"):
        return False
    for name in UNUSUAL:
        if name in headers:
            return False
    return "upgrade" in (token.strip().lower() for token in get("Connection", "").split(","))


class FastUpgrade(HTTPMessageDelegate):
    """Upgrades one plain request to ``route``'s socket, or forwards to ``fallback``."""

    def __init__(self, application: Any, request: HTTPServerRequest, route: type[HubSocket],
                 fallback: HTTPMessageDelegate) -> None:
        self.application = application
        self.request = request
        self.route = route
        self.fallback = fallback

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> Any:
        if not self._upgrade(start_line, headers):
            return self.fallback.headers_received(start_line, headers)
        return None

    def data_received(self, chunk: bytes) -> Any:
        return self.fallback.data_received(chunk)

    def finish(self) -> None:
        self.fallback.finish()

    def on_connection_close(self) -> None:
        self.fallback.on_connection_close()

    def _upgrade(self, start_line: RequestStartLine, headers: HTTPHeaders) -> bool:
        """The upgrade done, or False (nothing done) for Tornado's path."""
        admission = self.admission(start_line, headers)
        if admission is None:
            return False
        self.upgrade(admission, headers)
        return True

    def admission(self, start_line: RequestStartLine, headers: HTTPHeaders) -> Admission | None:
        """What the key gives a plain request that fits, or None (nothing
        done, nothing counted) for Tornado's path."""
        if not is_plain(start_line, headers):
            return None
        state = self.application.state
        try:
            admission = assess(state, self.request, presented_key(self.request), self.route)
        except Refused:
            return None
        return admission if has_room(state) and not state.stopping else None

    def upgrade(self, admission: Admission, headers: HTTPHeaders) -> None:
        """The 101 written, the socket opened and reading (server/direct.py
        calls this too, once it has taken the request off the socket)."""
        request = self.request
        state = self.application.state
        handler = build_handler(self.route, self.application, request, state)
        handler.admit(admission)
        handler.upgrading()
        handler.path_args, handler.path_kwargs = [], {}  # what _execute sets: the routes have no groups
        handler.open_args, handler.open_kwargs = (), {}
        handler.set_status(101)
        protocol = handler.get_websocket_protocol()
        if protocol is None or not hasattr(protocol, "start_reading"):
            raise RuntimeError(f"{self.route.__name__} has no frame reader of the hub's")
        handler.ws_connection = protocol
        protocol.selected_subprotocol = None
        handler._finished = True
        connection = request.connection
        assert connection is not None  # a request being read has its connection
        stream = protocol.stream = connection.detach()  # type: ignore[attr-defined]  # HTTP1Connection's
        write_now(stream, switching(headers["Sec-WebSocket-Key"]))
        log_request(handler)
        protocol.start_pinging()
        try:
            handler.open()
        except Exception:
            handler.log_exception(*sys.exc_info())
            protocol._abort()
            return
        protocol.start_reading()


def build_handler(route: type[HubSocket], application: Any, request: HTTPServerRequest, state: Any) -> HubSocket:
    """``route(application, request, state=state)``, less what an upgraded
    handler drops right after ``open()`` (upgraded.release_upgrade_state):
    Tornado's ``RequestHandler.__init__`` builds a template namespace and the
    response's headers, a formatted Date among them, for a response never
    sent. The attributes are the ones those constructors set (pinned by
    tests/server/test_upgrade.py); a route with a constructor of its own is
    built by it."""
    if route.__init__ is not WebSocketHandler.__init__:
        return route(application, request, state=state)
    handler = route.__new__(route)
    # RequestHandler.__init__ (its close callback is one detach() clears at once):
    handler.application = application
    handler.request = request
    handler._headers_written = False
    handler._finished = False
    handler._auto_finish = True
    handler._prepared_future = None
    handler.ui = None  # type: ignore[assignment]
    handler._headers = None  # type: ignore[assignment]
    handler._write_buffer = []
    handler._status_code = 200
    handler._reason = "OK"
    handler.initialize(state=state)
    # WebSocketHandler.__init__:
    handler.ws_connection = None
    handler.close_code = None
    handler.close_reason = None
    handler._on_close_called = False
    return handler
