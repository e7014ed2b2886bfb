"""Fields of a publish frame the hub encoded (wire/codec.py
``encode_publish``), cut out of its bytes instead of parsing it all: for
the topic tree's values (hub/topics.py) and the devices' and topics'
listings (server/devices.py, server/topics.py), which read many kept frames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Callable

import ujson

from .codec import MAX_EVENT_BYTES, publish_head
from .speedups import load

#: How data that holds no number starts (a string, a list, null): the store
#: keeps such a message only as a raw one, at most one a second per event.
NOT_NUMBERS = (b'"', b"[", b"n")

_EVENT_AT = b'{"action":"publish","event":"'
#: The json module's C string scanner (not in its type stubs): one JSON string, from where it starts.
_scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009
_STAMP_AT = b',"created_at":"'


def publish_parts(event: str, frame: bytes) -> tuple[bytes, bytes] | None:
    """``data`` and ``created_at`` of a publish frame of ``event`` as the JSON
    text they are in it, cut out, not parsed (what follows, seq, epoch or
    ``"retained"``, left out); None for a frame ``encode_publish`` did not make."""
    head = publish_head(event)
    if not frame.startswith(head):
        return None
    # The last one: a key of data may be called created_at too, but comes before.
    cut = frame.rfind(_STAMP_AT)
    stamp = _stamp_at(frame, cut)
    if cut < len(head) or stamp is None:
        return None
    return frame[len(head):cut], stamp


def created_at_in(frame: bytes) -> bytes | None:
    """A publish frame's ``created_at`` as JSON text (``"2026-..."``), found
    from its end: the last part of a frame is enough."""
    return _stamp_at(frame, frame.rfind(_STAMP_AT))


def _stamp_at(frame: bytes, cut: int) -> bytes | None:
    if cut < 0:
        return None
    start = cut + len(_STAMP_AT) - 1
    end = frame.find(b'"', start + 1)
    stamp = frame[start:end + 1]
    return stamp if end > 0 and b"\\" not in stamp else None


def event_in(frame: bytes) -> str | None:
    """The event of a publish frame, read from its start (the rest is not
    parsed); None for what is not a publish frame."""
    if frame.startswith(_EVENT_AT):
        start = len(_EVENT_AT)
        # An event of MAX_EVENT_BYTES has at most that many escapes, and a cut
        # character after its closing quote does not matter.
        text = frame[start:start + 2 * MAX_EVENT_BYTES + 2].decode("utf-8", "ignore")
        try:
            return _scanstring(text, 0)[0]
        except ValueError:
            pass
    try:
        event = ujson.loads(frame)["event"]
    except (ValueError, TypeError, KeyError):
        return None
    return event if isinstance(event, str) else None


def no_numbers_python(frames: Sequence[bytes], head: bytes) -> bool:
    """Whether each of ``frames`` starts with ``head`` (``publish_head``) and
    its data with one of ``NOT_NUMBERS``: no reading in any of them."""
    skip = len(head)
    return all(frame.startswith(head) and frame[skip:skip + 1] in NOT_NUMBERS for frame in frames)


_native = load("picloud.wire._messages")
#: ``no_numbers_python``, in C where picloud/wire/_messages.c is built: the
#: recorder asks it of every run of one event's messages.
no_numbers: Callable[[Sequence[bytes], bytes], bool] = (
    getattr(_native, "no_numbers", None) or no_numbers_python  # an older build without it: Python
)
