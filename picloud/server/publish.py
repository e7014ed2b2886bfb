"""``POST /publish``: one way to publish a body (``publish_body``), served
two ways.

``PublishHTTP`` is the RequestHandler: preflights, browsers, refusals,
chunked or oversized bodies. ``FastPublish`` (server/fastpublish.py) serves
the common request without one; both answer through ``publish_body`` and
``stored_answer``.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from typing import Any

import tornado
import tornado.web
from tornado.httputil import HTTPServerRequest, ResponseStartLine
from tornado.web import RequestHandler

from ..exceptions import Forbidden, ProtocolError
from ..hub.rights import Permissions
from ..wire.requests import parse_publications
from .access import (
    AccessMixin,
    Refused,
    encode_error_body,
    protocol_error_body,
)
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
