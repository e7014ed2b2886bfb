"""What an MQTT publisher's message carries to the other hubs beside its
frame: the QoS it was published at and its payload's bytes, in the tag line
in front of the frame (``<node>[ <echo id>] q<qos> <base64 bytes>\\n``), so
that an MQTT subscriber on another hub gets them as one on this hub would
(``21.50``, not ``21.5``; QoS 1, kept for a persistent session). PiCloud
subscribers get the frame alone, as before.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

from ...hub.message import Message


def suffix(message: Message) -> bytes:
    """The tag's MQTT part for ``message`` (empty for a PiCloud publisher's)."""
    raw = message.raw
    if raw is None and not message.qos:
        return b""
    return b" q%d %s" % (message.qos, b"-" if raw is None else b64encode(raw))


def tagged(tag: bytes, message: Message) -> bytes:
    """``tag`` (ending in a newline) with the MQTT part of ``message``."""
    extra = suffix(message)
    return tag if not extra else tag[:-1] + extra + b"\n"


def apply(fields: list[bytes], message: Message) -> None:
    """Set what the tag's fields (after the node) say on the message received."""
    for at, field in enumerate(fields):
        if field[:1] == b"q" and field[1:] in (b"0", b"1", b"2") and at + 1 < len(fields):
            message.qos = field[1] - 48
            raw = fields[at + 1]
            if raw != b"-":
                try:
                    message.raw = b64decode(raw, validate=True)
                except (binascii.Error, ValueError):
                    message.raw = None  # the frame still serves
            return
