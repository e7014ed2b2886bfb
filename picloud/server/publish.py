"""``POST /publish``: one way to publish a body (``publish_body``), served
two ways.

``PublishHTTP`` is the RequestHandler: preflights, browsers, refusals,
chunked or oversized bodies. ``FastPublish`` serves the common request
without one.

A device posting readings over keep-alive costs the hub mostly Tornado's
per-request machinery: building a RequestHandler, its default headers, the
``_execute`` coroutine, the Date header, the flush. For a plain request
(POST, no ``Origin``, a ``Content-Length`` within the limit, a key that may
publish and a client name) this delegate reads the body and answers itself,
with the same status, headers and JSON errors as ``PublishHTTP``; both
answer through ``publish_body`` and ``stored_answer``. Anything
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
from http.client import responses
from typing import Any

import tornado
import tornado.web
from tornado.httputil import HTTPHeaders, HTTPMessageDelegate, HTTPServerRequest, ResponseStartLine
from tornado.web import RequestHandler

from ..exceptions import Forbidden, ProtocolError
from ..hub.keys import allows, fingerprint
from ..hub.rights import Permissions
from ..wire.codec import validate_client_name
from ..wire.requests import parse_publications
from .access import (
    AccessMixin,
    Refused,
    encode_error_body,
    presented_client_name,
    presented_key,
    protocol_error_body,
    throttled_address,
)
from .logs import log_request
from .state import HubState

SERVER = f"TornadoServer/{tornado.version}"
JSON = "application/json; charset=UTF-8"
CREATED = ResponseStartLine("HTTP/1.1", 201, "Created")

Answer = tuple[int, bytes]  # status and JSON body (empty for 201)
MAX_LENGTH_DIGITS = 19  # more could not be a body we take, and int() of 5000 digits costs
PUBLISHED: Answer = (201, b"")

_date = (0, "")


def http_date() -> str:
    """The Date header, formatted once per second rather than per request."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True))
    return _date[1]


def content_length(value: str) -> int | None:
    """A Content-Length header's value, None when it is not one: ASCII digits
    only (``str.isdigit`` also takes "²"), at most 19 of them, and a list only
    of equal values (what a proxy may send, and Tornado accepts)."""
    if len(value) <= MAX_LENGTH_DIGITS and value.isdigit() and value.isascii():
        return int(value)  # the common header, without building a list
    values = {piece.strip(" \t") for piece in value.split(",")}
    if len(values) != 1:
        return None
    (digits,) = values
    if not (0 < len(digits) <= MAX_LENGTH_DIGITS and digits.isascii() and digits.isdigit()):
        return None
    return int(digits)


def publish_body(
    state: HubState, body: bytes, key: bytes | None, client_name: str, permissions: Permissions | None
) -> Answer | None:
    """Publish a request body for the publisher (``key``'s fingerprint, client
    name, topic rights): the answer, or None when it must wait for the
    retained values to be stored (``stored_answer``)."""
    rates = state.rates
    bucket = None
    if rates is not None:
        bucket = rates.bucket(key, client_name)
        if not bucket.take():
            state.errors["rate"] += 1
            return 429, encode_error_body(str(rates.error()))
    try:
        published = state.pubsub.publish_batch(parse_publications(body), permissions)
    except Forbidden as exc:
        state.errors["auth"] += 1
        return 403, protocol_error_body(exc)
    except ProtocolError as exc:
        state.errors["protocol"] += 1
        return 400, protocol_error_body(exc)
    if bucket is not None and len(published) > 1:
        bucket.charge(len(published) - 1)  # a batch costs one per message, as on a websocket
    waits = False
    for sent, _ in published:
        if sent.not_retained is not None:
            return 413, encode_error_body(sent.not_retained)
        waits = waits or sent.retain
    return None if waits else PUBLISHED


async def stored_answer(stored: asyncio.Future[None]) -> Answer:
    """The answer once ``stored`` (``pubsub.stored()``, taken when the
    message was published) resolves."""
    try:
        await stored
    except OSError as exc:
        # Delivered, but given back by the store: 503, the hub's own trouble.
        return 503, encode_error_body(f"{exc}: delivered, not retained")
    return PUBLISHED


@tornado.web.stream_request_body
class PublishHTTP(AccessMixin, RequestHandler):
    """``POST /publish``. The body is streamed so that an oversized one gets a
    413 with a JSON error instead of Tornado's bare 400. Plain publishes
    are answered by FastPublish instead; both publish with publish_body."""

    action = "publish"
    routine = True  # a message, like a websocket publish: logged at debug level
    SUPPORTED_METHODS = ("POST", "OPTIONS")
    _received = 0

    def __init__(self, application: Any, request: HTTPServerRequest, state: HubState) -> None:
        self.state = state  # set_default_headers() runs before initialize()
        super().__init__(application, request, state=state)

    def set_default_headers(self) -> None:
        # Also after clear(), so refusals are readable by an allowed page.
        for name, value in self.state.origins.cors_headers(self.request).items():
            self.set_header(name, value)

    def prepare(self) -> None:
        if self.request.method == "OPTIONS":
            return  # a CORS preflight carries no key
        self.check_access()
        limit = self.state.config.max_message_bytes
        length = content_length(self.request.headers.get("Content-Length", "0"))
        if length is not None and length > limit:
            raise Refused(413, f"body over {limit} bytes")
        self._chunks: list[bytes] = []
        # Tornado refuses bodies over its own limit with a bare 400 before we
        # see them; let a little more through and answer 413 ourselves.
        self.request.connection.set_max_body_size(limit * 4 + 65536)

    def data_received(self, chunk: bytes) -> None:
        if self._finished or self.request.method == "OPTIONS":
            return
        self._received += len(chunk)
        limit = self.state.config.max_message_bytes
        if self._received > limit:
            self._chunks = []
            self.send_error(413, exc_info=(Refused, Refused(413, f"body over {limit} bytes"), None))
            return
        self._chunks.append(chunk)

    def options(self) -> None:
        origins = self.state.origins
        if not origins.allows(self.request.headers.get("Origin"), self.request.host):
            raise Refused(403, "origin not allowed")
        for name, value in origins.preflight_headers().items():
            self.set_header(name, value)
        self.set_status(204)
        self.finish()

    async def post(self) -> None:
        if self._finished:
            return
        answer = publish_body(
            self.state, b"".join(self._chunks), self.key_fingerprint, self.client_name, self.permissions
        )
        status, body = answer or await stored_answer(self.state.pubsub.stored())
        self.set_status(status)
        if body:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
        else:
            self.clear_header("Content-Type")  # Tornado's text/html default, for no body at all
        self.finish(body)


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

