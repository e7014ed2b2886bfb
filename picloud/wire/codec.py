"""The PiCloud wire protocol without any I/O: parsing what clients send and
encoding what the hub sends back.

Everything here works on ``str``/``bytes`` and plain Python values so that it
can be tested without sockets and shared by every handler.
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Callable

import ujson

from ..exceptions import ProtocolError

MAX_EVENT_BYTES = 256
#: Client names are listed in /info and presence for everyone: a short name.
MAX_CLIENT_NAME_BYTES = 128

# C0 controls, DEL and the C1 controls: invisible in logs and dashboards, and
# a classic way to smuggle confusing names past a reader.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

SUBSCRIBER_ACTIONS = frozenset({"subscribe", "unsubscribe", "unsubscribe:all"})


def utc_timestamp(when: float | None = None) -> str:
    """RFC 3339 in UTC, always six fractional digits and a ``Z``."""
    if when is None:
        return _timestamp(_now_micros()).decode("ascii")
    second = int(when)
    # The fraction rounded as datetime.fromtimestamp rounds it.
    return _timestamp(second * 1_000_000 + round((when - second) * 1e6)).decode("ascii")


def _now_micros() -> int:
    return (time.time_ns() + 500) // 1000


def _timestamp(micros: int) -> bytes:
    """utc_timestamp of ``micros`` since the epoch, as bytes: every publish
    is stamped, so strftime runs once per second, not per message."""
    second, micro = divmod(micros, 1_000_000)
    return b"%s%06dZ" % (_second_prefix(second), micro)


def _second_prefix(second: int) -> bytes:
    """``second``'s timestamp up to its fraction, kept until the next second."""
    global _stamp_second, _stamp_prefix
    if second != _stamp_second:
        _stamp_prefix = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.").encode()
        _stamp_second = second
    return _stamp_prefix


_stamp_second: int | None = None
_stamp_prefix = b""


def loads(text: str | bytes) -> Any:
    """Parse one JSON document, or raise ProtocolError saying why not."""
    try:
        return ujson.loads(text)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"invalid json: {json_error(text) or str(exc).lower()}") from None


def json_error(text: str | bytes) -> str | None:
    """Where and why ``text`` is not JSON, as the standard library tells it
    (ujson says "unexpected character found when decoding 'true'" for
    ``{"event": temperature}``); only on the error path."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        document = exc.doc if isinstance(exc.doc, str) else ""
        near = document[exc.pos:exc.pos + 20]
        return f"{exc.msg.lower()} at line {exc.lineno} column {exc.colno}" + (f" (near {near!r})" if near else "")
    except (ValueError, TypeError, RecursionError):
        return None
    return None


def dumps(value: Any) -> bytes:
    """Strict JSON as UTF-8: no NaN/Infinity, ``/`` left alone.

    ujson happily parses ``NaN`` and ``1e999``; refusing them here, where every
    outgoing message is encoded exactly once, costs nothing extra.
    """
    try:
        return _strict_dumps(value).encode("utf-8")
    except OverflowError:
        raise ProtocolError("data contains a non-finite number (NaN or Infinity)") from None
    except UnicodeEncodeError:
        raise ProtocolError("data contains an unpaired unicode surrogate") from None


def _strict_ujson() -> Callable[[Any], str]:
    """``ujson.dumps`` with ensure_ascii, escape_forward_slashes and allow_nan off.

    Passed by keyword, the three options cost more than encoding a short
    reading (ujson parses keywords slowly), so they are passed by position.
    That depends on ujson's parameter order (5.x and 6.x: obj, ensure_ascii,
    encode_html_chars, escape_forward_slashes, sort_keys, indent, allow_nan),
    checked here once; another order gets the keywords.
    """
    def positional(value: Any) -> str:
        # types-ujson lists an older order (with double_precision): the check below is what counts.
        return ujson.dumps(value, False, False, False, False, 0, False)  # type: ignore[arg-type]

    same = False
    try:
        same = positional({"b": "/<é>", "a": [1.5]}) == '{"b":"/<é>","a":[1.5]}'
        positional(float("nan"))
    except OverflowError:
        if same:
            return positional
    except (TypeError, ValueError):
        pass
    return functools.partial(ujson.dumps, ensure_ascii=False, escape_forward_slashes=False, allow_nan=False)


_strict_dumps = _strict_ujson()


def validate_event(event: Any, *, field: str = "event") -> str:
    """Return ``event`` if it is a usable event name, else raise ProtocolError."""
    if type(event) is str and event in _valid_names:  # checked twice per publish
        return event
    if event is None:
        raise ProtocolError(f"missing '{field}'")
    if not isinstance(event, str):
        raise ProtocolError(f"'{field}' must be a string, not {type(event).__name__}")
    if not event:
        raise ProtocolError(f"'{field}' must not be empty")
    if len(event) > MAX_EVENT_BYTES // 4 and len(event.encode("utf-8", "surrogatepass")) > MAX_EVENT_BYTES:
        raise ProtocolError(f"'{field}' is longer than {MAX_EVENT_BYTES} bytes")
    bad = _CONTROL.search(event)
    if bad:
        raise ProtocolError(f"'{field}' contains control character {bad.group()!r}")
    if not is_text(event):
        # A JSON escape like "\ud800": no frame, Redis channel or file can carry it.
        raise ProtocolError(f"'{field}' is not valid utf-8 text: {_short(event)}")
    if len(_valid_names) >= MAX_CACHED_HEADS:
        _valid_names.clear()
    _valid_names[event] = None
    return event


def is_text(value: str) -> bool:
    """Whether ``value`` encodes to UTF-8 (no lone surrogate from a JSON escape)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_client_name(name: str) -> str:
    """Return ``name`` if a connection may go by it, else raise ProtocolError."""
    if not is_text(name):
        raise ProtocolError(f"client name is not valid utf-8 text: {_short(name)}")
    if len(name) > MAX_CLIENT_NAME_BYTES // 4 and len(name.encode("utf-8")) > MAX_CLIENT_NAME_BYTES:
        raise ProtocolError(f"client name is longer than {MAX_CLIENT_NAME_BYTES} bytes")
    return name


# Names found valid, so that a name seen before is checked by one lookup;
# bounded like _publish_heads.
_valid_names: dict[str, None] = {}


def parse_publication(item: Any) -> tuple[str, Any]:
    """Validate one publish object; return ``(event, data)``.

    ``action`` may be present (the browser client sends ``"publish"``) but
    must not claim to be something else.
    """
    if not isinstance(item, dict):
        raise ProtocolError(f"message must be a json object, not {_json_type(item)}")
    action = item.get("action", "publish")
    if action != "publish":
        raise ProtocolError(f"unknown action {_short(action)}")
    return validate_event(item.get("event")), item.get("data")


def encode_publish(event: str, data: Any, created_at: str | None = None, stamp: bytes | None = None) -> bytes:
    """The frame every subscriber of ``event`` receives, as UTF-8 JSON,
    stamped now unless ``created_at`` (or ``stamp``, from ``stamp_now``) is given."""
    # Byte for byte what dumps() makes of the whole object, but only ``data``
    # is encoded per message: ujson's cost is mostly per call and per key.
    head = _publish_heads.get(event)
    if head is None:
        if len(_publish_heads) >= MAX_CACHED_HEADS:
            _publish_heads.clear()
        head = _publish_heads[event] = b'{"action":"publish","event":%s,"data":' % dumps(event)
    if stamp is None:
        stamp = dumps(created_at) if created_at is not None else b'"%s"' % _timestamp(_now_micros())
    return b'%s%s,"created_at":%s}' % (head, dumps(data), stamp)


def stamp_now() -> bytes:
    """``created_at`` of a message received now, as JSON text."""
    second, micro = divmod(_now_micros(), 1_000_000)
    return b'"%s%06dZ"' % (_second_prefix(second), micro)


def encode_publish_json(event: str, data: bytes, stamp: bytes) -> bytes:
    """``encode_publish`` of data already encoded as ``dumps`` would (wire/scan.py),
    with ``stamp`` (``stamp_now``) as its ``created_at``."""
    return b"%s%s%s" % (cached_publish_head(event), data, created_at_end(stamp))


def cached_publish_head(event: str) -> bytes:
    """``publish_head``, kept for the next message of ``event``."""
    head = _publish_heads.get(event)
    if head is None:
        head = publish_head(event)
        if len(_publish_heads) >= MAX_CACHED_HEADS:
            _publish_heads.clear()
        _publish_heads[event] = head
    return head


def created_at_end(stamp: bytes) -> bytes:
    """What a publish frame ends with after its data, ``created_at`` ``stamp``:
    ``cached_publish_head(event) + data + created_at_end(stamp)`` is
    ``encode_publish_json(event, data, stamp)``, its parts taken once a read."""
    return b',"created_at":%s}' % stamp


def publish_head(event: str) -> bytes:
    """What every publish frame of ``event`` starts with, up to its data."""
    head = _publish_heads.get(event)
    return head if head is not None else b'{"action":"publish","event":%s,"data":' % dumps(event)


# Event name -> the start of its publish frame. A hub sees few distinct
# names; the bound keeps a client that invents names from growing it.
MAX_CACHED_HEADS = 4096
_publish_heads: dict[str, bytes] = {}
#: The cache itself, for wire/scan.py's scan_publish (read there, never written).
publish_heads = _publish_heads


def encode_error(message: str, **extra: Any) -> bytes:
    frame = {"action": "error", "error": message}
    frame.update(extra)
    return dumps(frame)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
