"""WebSocket (RFC 6455) framing for what the server sends, without I/O.

Tornado frames each ``write_message`` itself; the hub instead frames a
published message once and hands the same bytes to every subscriber.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Optional, Protocol

from .speedups import load

# Opcodes (RFC 6455 5.2), for frames both ways.
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

_FIN = 0x80
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_SHORT_TEXT = [_SHORT.pack(_FIN | TEXT, length) for length in range(126)]


def encode_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """A complete, unmasked, unfragmented server-to-client frame."""
    length = len(payload)
    if length < 126 and opcode == TEXT:  # most readings: one concatenation
        return _SHORT_TEXT[length] + payload
    first = _FIN | opcode
    if length < 126:
        header = _SHORT.pack(first, length)
    elif length <= 0xFFFF:
        header = _MEDIUM.pack(first, 126, length)
    else:
        header = _LONG.pack(first, 127, length)
    return header + payload


def valid_close_code(code: int) -> bool:
    """Codes a peer may send (RFC 6455 7.4 and the IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """Code and reason of a close frame; ValueError names what is wrong."""
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise ValueError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not valid_close_code(code):
        raise ValueError(f"invalid close code {code}")
    return code, payload[2:].decode("utf-8")  # UnicodeDecodeError is a ValueError


def unmask_python(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``mask`` as one big integer.

    Much faster than a loop over bytes; used when Tornado's C extension is
    missing (measured: ~1.3 us for 64 bytes against ~0.3 us in C). The
    server hands the parser Tornado's C helper instead, where it is built:
    this layer imports no Tornado.
    """
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


#: ``unmask(mask, data)``: XOR ``data`` with the 4-byte ``mask``.
Unmask = Callable[[bytes, bytes], bytes]


class Framing(Protocol):
    """What ``text_frames`` frames: hub/message.py's Message (its frame kept
    in ``_frame``), or a frame already made."""

    _frame: Optional[bytes]
    payload: bytes


def text_frames_python(messages: Sequence[Framing]) -> list[bytes]:
    """Each message's text frame, made and kept in its ``_frame`` where it
    has none yet (the first subscriber's delivery; the rest share it)."""
    frames = []
    for message in messages:
        frame = message._frame
        if frame is None:
            frame = message._frame = encode_frame(message.payload)
        frames.append(frame)
    return frames


_native = load("picloud.wire._frames")
#: ``text_frames_python``, in C where picloud/wire/_frames.c is built.
text_frames: Callable[[Sequence[Framing]], list[bytes]] = (
    getattr(_native, "text_frames", None) or text_frames_python  # an older build without it: Python
)
