"""``GET /retained`` and ``GET /history``: the hub's memory, for scripts and pages.

Both answer JSON built from the messages' already-encoded publish frames
(shapes in docs/protocol.rst, "Protocol 2"). Both need the API key; no client name.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import ujson
from tornado.web import RequestHandler

from ..exceptions import BrokerError, ProtocolError
from ..hub.pubsub import PubSub
from ..wire.codec import validate_event
from ..wire.topics import is_filter, validate_filter
from .access import AccessMixin, Refused

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class QueryHandler(AccessMixin, RequestHandler):
    needs_client_name = False
    # Reading what was published is what a subscriber may do (issue: "key
    # with subscribe rights"), so a read-only dashboard key works here.
    action = "subscribe"

    def prepare(self) -> None:
        self.check_access()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    @property
    def pubsub(self) -> PubSub:
        return self.state.pubsub

    def event_arg(self, required: bool) -> str | None:
        event = self.get_query_argument("event", None)
        if event is None:
            if required:
                raise Refused(400, "missing 'event'")
            return None
        try:
            validate_event(event)
            if is_filter(event):
                validate_filter(event)
        except ProtocolError as exc:
            raise Refused(400, str(exc)) from None
        return event

    def check_readable(self, event: str) -> None:
        if self.permissions is not None and not self.permissions.may_use(event):
            raise Refused(403, str(self.permissions.refuse("read", event)))

    def int_arg(self, name: str, default: int) -> int:
        text = self.get_query_argument(name, None)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise Refused(400, f"'{name}' must be an integer >= 0, not {text[:40]!r}")
        return value


class RetainedHTTP(QueryHandler):
    """``{"retained": [frame, ...]}``: every retained value, those of one
    event, or those a wildcard ``event`` matches."""

    routine = True  # polled every 3 s by each open dashboard: logged at debug level

    async def get(self) -> None:
        event = self.event_arg(required=False)
        permissions = self.permissions
        if permissions is not None and event is not None and not is_filter(event):
            self.check_readable(event)
        allowed = None if permissions is None else permissions.may_use  # only what the key may read
        frames = await broker_answer(self.pubsub.broker.retained_frames(event, allowed))
        self.finish(b'{"retained":[' + b",".join(frames) + b"]}")


class HistoryHTTP(QueryHandler):
    """Kept messages of one event after ``since`` (default 0), oldest first,
    at most ``limit`` (default 100, capped at 1000)."""

    async def get(self) -> None:
        event = self.event_arg(required=True) or ""
        if is_filter(event):
            raise Refused(400, f"history applies to exact event names only, not {event!r}")
        self.check_readable(event)
        since = self.int_arg("since", 0)
        limit = min(self.int_arg("limit", DEFAULT_LIMIT), MAX_LIMIT)
        epoch = self.get_query_argument("epoch", None)
        head, frames = await broker_answer(self.pubsub.broker.history_page(event, since, limit, epoch))
        self.finish(encode_head(head)[:-1] + b',"messages":[' + b",".join(frames) + b"]}")


def encode_head(head: dict[str, Any]) -> bytes:
    return ujson.dumps(head, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")


async def broker_answer(read: Awaitable[T]) -> T:
    """Await a read from the broker; 503 while it cannot answer."""
    try:
        return await read
    except BrokerError as exc:
        raise Refused(503, str(exc).lower() or "the broker did not answer") from None
