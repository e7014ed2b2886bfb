"""``POST /publish`` without a RequestHandler for the common request.

A device posting readings over keep-alive costs the hub mostly Tornado's
per-request machinery: building a RequestHandler, its default headers, the
``_execute`` coroutine, the Date header, the flush. For a plain request
(POST, no ``Origin``, a ``Content-Length`` within the limit, a key that may
publish and a client name) this delegate reads the body and answers itself,
with the same status, headers and JSON errors as ``PublishHTTP``. Anything
else (preflights, browsers, refusals, chunked or oversized bodies) is handed
to ``PublishHTTP`` unchanged, before any of it has been read, so its checks,
error counters and messages stay the only ones.

Relies on Tornado's HTTPMessageDelegate interface (public) and on
``Application.get_handler_delegate`` returning the delegate it forwards to.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import tornado
from tornado.httputil import HTTPHeaders, HTTPMessageDelegate, ResponseStartLine

from .access import encode_error_body, presented_client_name, presented_key, protocol_error_body
from .exceptions import ProtocolError
from .handlers import PublishHTTP
from .keys import allows

if TYPE_CHECKING:
    from .app import PiCloudApp

SERVER = f"TornadoServer/{tornado.version}"
JSON = "application/json; charset=UTF-8"
CREATED = ResponseStartLine("HTTP/1.1", 201, "Created")

_date = (0, "")


def http_date() -> str:
    """The Date header, formatted once per second rather than per request."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True))
    return _date[1]


class FastPublish(HTTPMessageDelegate):
    """Serves one plain ``POST /publish``, or forwards to ``fallback``."""

    def __init__(self, app: PiCloudApp, request: Any, fallback: HTTPMessageDelegate) -> None:
        self.app = app
        self.request = request
        self.fallback: HTTPMessageDelegate | None = fallback
        self.chunks: list[bytes] = []
        self.status = 201
        self.waiting: asyncio.Future[None] | None = None  # the retained store's write

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> Any:
        if self._plain(start_line, headers):
            self.fallback = None
            return None
        assert self.fallback is not None
        return self.fallback.headers_received(start_line, headers)

    def _plain(self, start_line: Any, headers: HTTPHeaders) -> bool:
        """Whether this request is one ``PublishHTTP`` would accept as far as
        its headers go; no counter moves, no answer is written."""
        if start_line.method != "POST" or start_line.version != "HTTP/1.1":
            return False
        if "Origin" in headers or "Transfer-Encoding" in headers:
            return False
        length = headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > self.app.config.max_message_bytes:
            return False
        # The request carries these same headers (Tornado made it from them).
        role = self.app.auth.role_of(presented_key(self.request))
        if role is None or not allows(role, "publish"):
            return False
        return bool(presented_client_name(self.request))

    def data_received(self, chunk: bytes) -> Any:
        if self.fallback is not None:
            return self.fallback.data_received(chunk)
        self.chunks.append(chunk)
        return None

    def finish(self) -> None:
        if self.fallback is not None:
            self.fallback.finish()
            return
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        app = self.app
        try:
            published = app.publish_frames(body)
        except ProtocolError as exc:
            app.errors["protocol"] += 1
            self._answer(400, "Bad Request", protocol_error_body(exc))
            return
        for sent, _ in published:
            if sent.retain:
                self.waiting = asyncio.ensure_future(self._answer_when_stored())
                return
        self._answer(201, "Created", b"")

    async def _answer_when_stored(self) -> None:
        try:
            await self.app.pubsub.retained.stored()
        except OSError as exc:
            self._answer(500, "Internal Server Error", encode_error_body(str(exc)))
        else:
            self._answer(201, "Created", b"")

    def _answer(self, status: int, reason: str, body: bytes) -> None:
        self.status = status
        headers = HTTPHeaders()
        # The same headers a RequestHandler would send.
        headers["Server"] = SERVER
        headers["Content-Type"] = JSON if body else "text/html; charset=UTF-8"
        headers["Date"] = http_date()
        headers["Content-Length"] = str(len(body))
        start_line = CREATED if status == 201 else ResponseStartLine("HTTP/1.1", status, reason)
        connection = self.request.connection
        connection.write_headers(start_line, headers, body or None)
        connection.finish()
        self.app.log_request(self)  # type: ignore[arg-type]

    routine = PublishHTTP.routine

    def get_status(self) -> int:
        """For the access log, which takes a handler."""
        return self.status

    def on_connection_close(self) -> None:
        if self.fallback is not None:
            self.fallback.on_connection_close()
        self.chunks = []

