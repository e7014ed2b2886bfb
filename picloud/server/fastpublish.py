"""``FastPublish``: a plain ``POST /publish`` served without a RequestHandler.

A device posting readings over keep-alive costs the hub mostly Tornado's
per-request machinery: building a RequestHandler, its default headers, the
``_execute`` coroutine, the Date header, the flush. For a plain request
(POST, no ``Origin``, a ``Content-Length`` within the limit, a key that may
publish and a client name) this delegate reads the body and answers itself,
with the same status, headers and JSON errors as ``PublishHTTP``
(server/publish.py); both answer through ``publish_body`` and
``stored_answer``. Anything else (preflights, browsers, refusals, chunked or
oversized bodies) is handed to ``PublishHTTP`` unchanged, before any of it
has been read, so its checks, error counters and messages stay the only ones.

Relies on Tornado's HTTPMessageDelegate interface (public) and on
``Application.get_handler_delegate`` returning the delegate it forwards to.
"""

from __future__ import annotations

import asyncio
from http.client import responses
from typing import Any

from tornado.httputil import HTTPHeaders, HTTPMessageDelegate, HTTPServerRequest, ResponseStartLine

from ..exceptions import ProtocolError
from ..hub.keys import allows, fingerprint
from ..hub.rights import Permissions
from ..wire.codec import validate_client_name
from .access import encode_error_body, presented_client_name, presented_key, throttled_address
from .logs import log_request
from .publish import CREATED, JSON, SERVER, PublishHTTP, content_length, http_date, publish_body, stored_answer
from .state import HubState


class FastPublish(HTTPMessageDelegate):
    """Serves one plain ``POST /publish``, or forwards to ``fallback``."""

    def __init__(self, state: HubState, request: HTTPServerRequest, fallback: HTTPMessageDelegate) -> None:
        self.state = state
        self.request = request
        self.fallback: HTTPMessageDelegate | None = fallback
        self.chunks: list[bytes] = []
        self.status = 201
        self.waiting: asyncio.Future[None] | None = None  # the retained store's write
        self.refused = False
        self.permissions: Permissions | None = None

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> Any:
        length = headers.get("Content-Length")
        size = None if length is None else content_length(length)
        if length is not None and size is None:
            self._refuse_length(length, headers)
            return None
        if self._plain(start_line, headers, size):
            self.fallback = None
            return None
        assert self.fallback is not None
        return self.fallback.headers_received(start_line, headers)

    def _refuse_length(self, length: str, headers: HTTPHeaders) -> None:
        """Answer 400 for a Content-Length that is not one, before anything is read.

        Tornado would refuse it with a bare 400 once this returns; without the
        header it reads no body, and since the answer came before the request
        was read, it closes the connection after it rather than parse the rest.
        """
        self.fallback = None
        self.refused = True
        del headers["Content-Length"]
        headers.pop("Transfer-Encoding", None)  # nor a chunked body: nothing more is read
        self.state.errors["request"] += 1
        self._answer(400, encode_error_body(f"content-length is not a length: {length[:40]!r}"))

    def _plain(self, start_line: Any, headers: HTTPHeaders, length: int | None) -> bool:
        """Whether this request is one ``PublishHTTP`` would accept as far as
        its headers go; no counter moves, no answer is written."""
        if start_line.method != "POST" or start_line.version != "HTTP/1.1":
            return False
        if "Origin" in headers or "Transfer-Encoding" in headers:
            return False
        if length is None or length > self.state.config.max_message_bytes:
            return False
        address = throttled_address(self.request, self.state.config.xheaders)
        if address is not None and self.state.throttle.blocked(address):
            return False
        # The request carries these same headers (Tornado made it from them).
        grant = self.state.auth.grant_of(presented_key(self.request))
        if grant is None or not allows(grant.role, "publish"):
            return False
        name = presented_client_name(self.request)
        if not name:
            return False
        try:
            validate_client_name(name)
        except ProtocolError:
            return False
        if not grant.admits(name):
            return False
        self.permissions = grant.permissions(name)
        self.state.pending.settle(getattr(self.request.connection, "stream", None))
        return True

    def data_received(self, chunk: bytes) -> Any:
        if self.fallback is not None:
            return self.fallback.data_received(chunk)
        if self.refused:
            return None
        self.chunks.append(chunk)
        return None

    def finish(self) -> None:
        if self.fallback is not None:
            self.fallback.finish()
            return
        if self.refused:
            return  # answered already
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        request = self.request
        key = presented_key(request) if self.state.rates is not None else None
        answer = publish_body(
            self.state, body, None if key is None else fingerprint(key), presented_client_name(request) or "",
            self.permissions,
        )
        if answer is None:
            self.waiting = asyncio.ensure_future(self._answer_when_stored(self.state.pubsub.stored()))
        else:
            self._answer(*answer)

    async def _answer_when_stored(self, stored: asyncio.Future[None]) -> None:
        self._answer(*await stored_answer(stored))

    def _answer(self, status: int, body: bytes) -> None:
        self.status = status
        headers = HTTPHeaders()
        # The same headers a RequestHandler would send.
        headers["Server"] = SERVER
        if body:  # a 201 is empty, and says nothing of a type
            headers["Content-Type"] = JSON
        headers["Date"] = http_date()
        headers["Content-Length"] = str(len(body))
        reason = responses.get(status, "Unknown")
        start_line = CREATED if status == 201 else ResponseStartLine("HTTP/1.1", status, reason)
        connection = self.request.connection
        assert connection is not None  # a request being answered has its connection
        connection.write_headers(start_line, headers, body or None)
        connection.finish()
        log_request(self)

    routine = PublishHTTP.routine

    def get_status(self) -> int:
        """For the access log, which takes a handler."""
        return self.status

    def on_connection_close(self) -> None:
        if self.fallback is not None:
            self.fallback.on_connection_close()
        self.chunks = []

