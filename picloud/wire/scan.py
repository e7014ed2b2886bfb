"""A publish frame's parts, for the hub's fast path: ``(event, data, retain,
id)`` with ``data`` the JSON text the hub sends on (``codec.dumps``), or
None where the ordinary parse (``requests.parse_publications``) must decide.

``scan`` is the C twin (picloud/wire/_publish.c) when it is built, else
None: in Python the ordinary parse is already the fastest way, so there is
no pure-Python fast path to fall back on, only the ordinary one.
``scan_python`` is the reference the C code is tested against: what the
ordinary parse and ``dumps`` make of a frame. The C code may answer None
where this answers (it takes only what it can vouch for byte for byte),
never the other way round, and never something else.

``scan_publish`` is what the hub's publish path calls: the same scan, with
the publish frame the hub sends made at once in place of ``data`` (the
event's cached head, ``data``, and the read's ``created_at_end``), and
whether the message clears its retained value; ``scan_publish_python`` is
its reference.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..exceptions import ProtocolError
from .codec import dumps, loads
from .requests import parse_one
from .speedups import load

Parts = tuple[str, bytes, bool, Any]
#: What scan_publish finds: event, the publish frame, retain, id, clears.
Encoded = tuple[str, bytes, bool, Any, bool]

_native = load("picloud.wire._publish")
#: The C scanner, or None.
scan: Optional[Callable[[str | bytes], Optional[Parts]]] = _native.scan if _native is not None else None
#: The C scanner that makes the publish frame too, or None:
#: ``scan_publish(text, publish_heads, created_at_end(stamp))``.
scan_publish: Optional[Callable[[str | bytes, dict[str, bytes], bytes], Optional[Encoded]]] = (
    getattr(_native, "scan_publish", None)
)


def scan_python(text: str | bytes) -> Parts | None:
    """What the ordinary path makes of one publish frame, or None if it is a
    batch, refused, or names an event the hub checks further (``+``, ``#``, ``$``)."""
    try:
        doc = loads(text)
        if not isinstance(doc, dict):
            return None
        item = parse_one(doc)
        if "+" in item.event or "#" in item.event or item.event[0] == "$":
            return None
        return item.event, dumps(item.data), item.retain, item.id
    except ProtocolError:
        return None


def scan_publish_python(text: str | bytes, heads: dict[str, bytes], end: bytes) -> Encoded | None:
    """``scan_python``, with the publish frame ``heads[event] + data + end``
    (``codec.encode_publish_json``) in place of data; None also for an event
    whose head is not in ``heads`` yet (the ordinary path makes and keeps it)."""
    parts = scan_python(text)
    if parts is None:
        return None
    event, data, retain, request_id = parts
    head = heads.get(event)
    if head is None:
        return None
    return event, head + data + end, retain, request_id, retain and data == b"null"
