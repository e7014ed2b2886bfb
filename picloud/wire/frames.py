"""WebSocket (RFC 6455) framing for what the server sends, without I/O.

Tornado frames each ``write_message`` itself; the hub instead frames a
published message once and hands the same bytes to every subscriber.
"""

from __future__ import annotations

import struct

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


def encode_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """A complete, unmasked, unfragmented server-to-client frame."""
    length = len(payload)
    first = _FIN | opcode
    if length < 126:
        header = _SHORT.pack(first, length)
    elif length <= 0xFFFF:
        header = _MEDIUM.pack(first, 126, length)
    else:
        header = _LONG.pack(first, 127, length)
    return header + payload
