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
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..exceptions import ProtocolError
from .codec import dumps, loads
from .requests import parse_one
from .speedups import load

Parts = tuple[str, bytes, bool, Any]

_native = load("picloud.wire._publish")
#: The C scanner, or None.
scan: Optional[Callable[[str | bytes], Optional[Parts]]] = _native.scan if _native is not None else None


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
