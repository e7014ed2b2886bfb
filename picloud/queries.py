"""``GET /retained`` and ``GET /history``: the hub's memory, for scripts and pages.

Both answer JSON built from the messages' already-encoded publish frames
(shapes in README.rst, "Protocol 2"). Both need the API key; no client name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ujson
from tornado.web import RequestHandler

from .access import AccessMixin, Refused
from .exceptions import ProtocolError
from .protocol import validate_event
from .topics import is_filter, validate_filter

if TYPE_CHECKING:
    from .pubsub import PubSub

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
        return self.application.pubsub

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
        broker = self.pubsub.broker
        if not broker.local_only:
            from .brokers.cluster import answer_retained

            self.finish(await cluster_answer(answer_retained(broker, event)))
            return
        frames = b",".join(m.payload for m in self.pubsub.retained.items(event))
        self.finish(b'{"retained":[' + frames + b"]}")


class HistoryHTTP(QueryHandler):
    """Kept messages of one event after ``since`` (default 0), oldest first,
    at most ``limit`` (default 100, capped at 1000)."""

    async def get(self) -> None:
        event = self.event_arg(required=True) or ""
        if is_filter(event):
            raise Refused(400, f"history applies to exact event names only, not {event!r}")
        since = self.int_arg("since", 0)
        limit = min(self.int_arg("limit", DEFAULT_LIMIT), MAX_LIMIT)
        history = self.pubsub.history
        broker = self.pubsub.broker
        if not broker.local_only:
            from .brokers.cluster import answer_history

            epoch = self.get_query_argument("epoch", None)
            head_doc, frames = await cluster_answer(answer_history(broker, event, since, limit, epoch, history.ttl))
            self.finish(encode_head(head_doc)[:-1] + b',"messages":[' + b",".join(frames) + b"]}")
            return
        epoch = self.get_query_argument("epoch", None) or history.epoch
        _, complete = history.since(event, since, epoch)
        # Another epoch's seq says nothing about this one: send what is kept.
        messages = history.query(event, since if epoch == history.epoch else 0, limit)
        head = encode_head(
            {"event": event, "epoch": history.epoch, "last_seq": history.last_seq(event),
             "complete": complete},
        )
        frames = b",".join(m.payload for m in messages)
        self.finish(head[:-1] + b',"messages":[' + frames + b"]}")


def encode_head(head: dict) -> bytes:
    return ujson.dumps(head, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")


async def cluster_answer(read: Any) -> Any:
    """Await a read from Redis; 503 while Redis cannot answer."""
    try:
        return await read
    except Exception as exc:  # BrokerError, a timeout, or redis-py's
        raise Refused(503, str(exc).lower() or "redis did not answer in time") from None
