"""What clients send and what the hub answers: publications (one or a batch),
subscribe requests, and the replies to them.

Parsing accepts everything the original clients send and reads the fields
added since (``since``, ``retain``, ``id``). The replies other than errors go
only to clients that opted in with ``?protocol=2`` (on ``/subscribe``) or
that sent an ``id`` (on ``/publish``): see docs/protocol.rst, "Protocol 2". No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import ProtocolError
from .codec import (
    SUBSCRIBER_ACTIONS,
    _json_type,
    _short,
    dumps,
    is_text,
    loads,
    parse_publication,
    validate_event,
)
from .topics import is_filter, validate_filter

MAX_ID_CHARS = 128


@dataclass
class SubscribeRequest:
    action: str
    event: str | None = None
    since: tuple[int, str] | None = None  # (seq, epoch)
    id: Any = None


@dataclass
class Publication:
    event: str
    data: Any
    retain: bool = False
    id: Any = None


def parse_id(frame: dict[str, Any]) -> Any:
    """The request's ``id`` (a string or an integer), echoed in replies."""
    value = frame.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(f"'id' must be a string or an integer, not {_json_type(value)}")
    if isinstance(value, str):
        if len(value) > MAX_ID_CHARS:
            raise ProtocolError(f"'id' is longer than {MAX_ID_CHARS} characters")
        if not is_text(value):  # echoed in the reply, which could not be encoded
            raise ProtocolError(f"'id' is not valid utf-8 text: {_short(value)}")
    return value


def parse_subscribe_request(text: str | bytes) -> SubscribeRequest:
    """Parse a frame sent on ``/subscribe`` (original fields plus ``since`` and ``id``)."""
    frame = loads(text)
    if not isinstance(frame, dict):
        raise ProtocolError(f"frame must be a json object, not {_json_type(frame)}")
    request_id = parse_id(frame)
    action = frame.get("action")
    try:
        if not isinstance(action, str) or action not in SUBSCRIBER_ACTIONS:
            if action is None:
                raise ProtocolError("missing 'action'")
            raise ProtocolError(f"unknown action {_short(action)}")
        if action == "unsubscribe:all":
            return SubscribeRequest(action, id=request_id)
        event = validate_event(frame.get("event"))
        since = None
        if action == "subscribe":
            if is_filter(event):
                validate_filter(event)
            since = parse_since(frame.get("since"), event)
    except ProtocolError as exc:
        exc.id = request_id
        raise
    return SubscribeRequest(action, event, since, request_id)


def parse_since(value: Any, event: str) -> tuple[int, str] | None:
    if value is None:
        return None
    if is_filter(event):
        raise ProtocolError(f"'since' applies to exact event names only, not {event!r}")
    if not isinstance(value, dict):
        raise ProtocolError(f"'since' must be an object with seq and epoch, not {_json_type(value)}")
    seq, epoch = value.get("seq"), value.get("epoch")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ProtocolError(f"'since.seq' must be an integer >= 0, not {_short(seq)}")
    if not isinstance(epoch, str):
        raise ProtocolError(f"'since.epoch' must be a string, not {_json_type(epoch)}")
    return seq, epoch


def parse_publications(body: str | bytes) -> list[Publication]:
    """Parse a publish frame or HTTP body: one object or a batch (a list).

    A bad element rejects the whole batch, naming its index, so that a
    script never has to guess which half of its readings got through. Reads
    ``retain`` and ``id`` besides the original fields; an error carries the
    failing element's ``index`` (in a batch) and ``id``.
    """
    doc = loads(body)
    if isinstance(doc, list):
        if not doc:
            raise ProtocolError("batch must not be empty")
        items = []
        for index, item in enumerate(doc):
            try:
                items.append(parse_one(item))
            except ProtocolError as exc:
                raise ProtocolError(
                    f"batch element {index}: {exc}", index=index, id=getattr(exc, "id", None)
                ) from None
        return items
    return [parse_one(doc)]


def parse_one(item: Any) -> Publication:
    if not isinstance(item, dict):
        return Publication(*parse_publication(item))  # raises the original error
    request_id = parse_id(item)
    try:
        event, data = parse_publication(item)
        retain = item.get("retain", False)
        if not isinstance(retain, bool):
            raise ProtocolError(f"'retain' must be true or false, not {_short(retain)}")
    except ProtocolError as exc:
        exc.id = request_id
        raise
    return Publication(event, data, retain, request_id)


def encode_reply(action: str, **fields: Any) -> bytes:
    """A protocol-2 control frame, e.g. ``{"action": "ack", "id": 7}``."""
    return dumps({"action": action, **{k: v for k, v in fields.items() if v is not None}})
