"""MQTT payloads and PiCloud data, each way.

MQTT payloads are bytes, PiCloud ``data`` is JSON. Between MQTT clients the
bytes go through unchanged (the message carries them). Across the two
worlds:

=====================================  ==========================================
an MQTT payload that is                reaches PiCloud subscribers as
=====================================  ==========================================
empty                                  ``null``
UTF-8 JSON (``21.5``, ``{"a": 1}``)     that value (``21.50`` becomes 21.5,
                                       ``"ON"`` with its quotes becomes ``ON``)
other UTF-8 text (``ON``)              that string
anything else                          its base64, and ``"encoding": "base64"``
=====================================  ==========================================

PiCloud ``data`` reaches MQTT subscribers as the text of a string, nothing
for ``null``, the bytes of a base64 frame, and compact JSON otherwise.
"""

from __future__ import annotations

import base64
from typing import Any

import ujson

from ..codec import dumps

BASE64 = "base64"
#: The ASCII bytes ujson.loads takes a text starting with (JSON's, and
#: NaN and Infinity, which it parses too); tests/wire/mqtt/test_parser.py
#: asks ujson about every other one.
JSON_STARTS = frozenset(b'\t\n\r "-0123456789INft[{n')
#: What a number is made of; a text starting as one and holding any other
#: byte is no JSON ujson parses to a finite value (-Infinity is taken as text).
NUMBER_STARTS = frozenset(b"-0123456789")
NUMBER_BYTES = b"0123456789+-.eE \t\n\r"


def to_data(payload: bytes) -> tuple[Any, str | None]:
    """PiCloud ``data`` for an MQTT payload, and its encoding (None or "base64")."""
    if not payload:
        return None, None
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), BASE64
    first = payload[0]
    if first < 0x80 and (first not in JSON_STARTS
                         or (first in NUMBER_STARTS and payload.translate(None, NUMBER_BYTES))):
        # No JSON (a number followed by more, as in 12|3|...): spared a
        # parse that would fail, and its exception.
        return text, None
    try:
        value = ujson.loads(text)
    except (ValueError, RecursionError, OverflowError):  # not JSON, or deeper than it goes: text
        return text, None
    try:
        # ujson takes NaN and 1e999 (inf), which have no JSON form: the text.
        dumps(value)
    except Exception:
        return text, None
    return value, None


def from_frame(frame: bytes) -> bytes:
    """The MQTT payload of a PiCloud publish frame (hub/message.py ``payload``)."""
    decoded = ujson.loads(frame)
    data = decoded.get("data")
    if decoded.get("encoding") == BASE64 and isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            pass
    return from_data(data)


def from_data(data: Any) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    return dumps(data)
