"""What a websocket frame parser (frameparser.py) does after the peer broke
the protocol: it keeps reading frame boundaries, dropping payloads without
buffering them, so that the peer's answering close frame is still reported
(a server that closed the socket with unread data would reset the
connection, and the peer might never see the close code).
"""

from __future__ import annotations

from typing import Any

from .frames import CLOSE, Unmask, parse_close

MAX_CONTROL_PAYLOAD = 125

# The parser's states.
_OPEN, _FAILED, _CLOSED = 0, 1, 2


class SkipsFrames:
    """``FrameParser``'s skipping (it has these slots)."""

    __slots__ = ("_need", "_skip", "_state", "_unmask")
    _need: int  # bytes an incomplete frame needs before it can be parsed
    _skip: int  # payload bytes still to drop after a failure
    _state: int
    _unmask: Unmask

    def _discard(self, data: bytes, events: list[tuple[int, Any]]) -> int:
        """After a failure: skip frames, report only a close frame."""
        pos = 0
        end = len(data)
        while True:
            avail = end - pos
            if avail < 2:
                self._need = 2
                return pos
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                head = 4
            elif length == 127:
                head = 10
            if b1 & 0x80:
                head += 4
            if avail < head:
                self._need = head
                return pos
            if length == 126:
                length = (data[pos + 2] << 8) | data[pos + 3]
            elif length == 127:
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            total = head + length
            if b0 & 0x0F == CLOSE and length <= MAX_CONTROL_PAYLOAD:
                if avail < total:
                    self._need = total
                    return pos
                payload = data[pos + head : pos + total]
                if b1 & 0x80:
                    payload = self._unmask(data[pos + head - 4 : pos + head], payload)
                try:
                    events.append((CLOSE, parse_close(payload)))
                except ValueError:
                    events.append((CLOSE, (None, "")))
                self._state = _CLOSED
                return end
            if avail < total:
                self._skip = total - avail
                return end
            pos += total
