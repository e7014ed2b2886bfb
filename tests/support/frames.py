"""Client websocket frames made by hand, bytes only (no sockets, no Tornado):
for the frame parser's tests and for the raw clients of the reader's."""

from __future__ import annotations

import struct

from picloud.wire.frameparser import unmask_python

MASK = b"\x37\xfa\x21\x3d"


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = MASK,
          rsv: int = 0, length: int | None = None) -> bytes:
    """A client frame, masked unless ``mask`` is None."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if mask is None:
        return head + payload
    return head + mask + unmask_python(mask, payload)
