"""WebSocket (RFC 6455) frames from clients, parsed without I/O.

Bytes go in (``FrameParser.feed``), events come out, in the manner of
python-websockets' sans-I/O protocol. Events are tuples ``(kind, value)``:

    (TEXT, str)                   a complete text message, valid UTF-8
    (BINARY, bytes)               a complete binary message
    (PING, bytes) / (PONG, bytes) control frames, in the order received
    (CLOSE, (code, reason))       the peer's close frame (code None if empty);
                                  echo the code, then close the connection
    (FAIL, (code, reason))        the peer broke the protocol: send a close
                                  frame with this code and close the connection

Tornado's own reader awaits a coroutine for every header, mask and payload
read; here one ``feed`` parses every complete frame in a chunk, so a read of
many small frames costs one call. Everything RFC 6455 asks of a server is
checked: client frames masked, reserved bits clear, known opcodes, control
frames at most 125 bytes and unfragmented (they may arrive between the
fragments of a message), text valid UTF-8 as it arrives (incrementally across
fragments), close codes and reasons valid. A message whose declared length
would exceed ``max_message_bytes`` fails with 1009 as soon as its header is
seen, before any of it is buffered.

After a FAIL the parser keeps reading frame boundaries, dropping payloads
without buffering them, so that the peer's answering close frame is still
reported (a server that closed the socket with unread data would reset the
connection and the peer might never see the close code).

Where picloud/wire/_frames.c is built, the frames a publisher sends
(complete, masked, final TEXT or BINARY) are parsed by it, up to the first
frame that is anything else; this loop, the reference, does the rest.
"""

from __future__ import annotations

import codecs
from typing import Any, Protocol, Union, cast

from .frames import BINARY, CLOSE, PING, PONG, TEXT, Unmask, parse_close, unmask_python
from .frameskip import _CLOSED, _FAILED, _OPEN, MAX_CONTROL_PAYLOAD, SkipsFrames
from .speedups import load

__all__ = [
    "BINARY", "CLOSE", "FAIL", "PING", "PONG", "TEXT",
    "Budget", "FrameLoop", "FrameParser", "Unmask", "parse_close", "unmask_python",
]

FAIL = -1

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009


#: What a fragment costs at the least toward ``max_message_bytes``: an empty
#: one still takes memory, and ten million of them took 78 MB.
FRAGMENT_COST = 64


Event = tuple[int, Any]
Buffer = Union[bytes, bytearray]

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class FrameLoop(Protocol):
    """The C twin of the common case of ``FrameParser._parse`` (_frames.c)."""

    def parse_common(self, data: bytes, pos: int, max_size: int, events: list[Event], /) -> int:
        """Append the message of every frame from ``pos`` on that is
        complete, masked, final, TEXT or BINARY, without reserved bits,
        within ``max_size`` and (text) valid UTF-8; return the position of
        the first that is not, for the Python loop to go on from."""
        ...

    def unmask(self, mask: bytes, data: bytes, /) -> bytes:
        """As ``unmask_python``."""
        ...


#: The C twin of this module's frame loop (picloud/wire/_frames.c), or None.
native = cast("FrameLoop | None", load("picloud.wire._frames"))


class Budget(Protocol):
    """Bytes shared by every connection's partial frames and messages
    (hub/limits.py ByteBudget)."""

    limit: int

    def take(self, count: int) -> bool: ...
    def give(self, count: int) -> None: ...


class FrameParser(SkipsFrames):
    """Parses the client-to-server half of one websocket connection."""

    __slots__ = ("_budget", "_buf", "_charged", "_decoder", "_max", "_native", "_parts", "_size", "_type")

    def __init__(self, max_message_bytes: int, unmask: Unmask = unmask_python, budget: Budget | None = None,
                 native: FrameLoop | None = native) -> None:
        self._max = max_message_bytes
        self._unmask = unmask
        self._native = native  # None: every frame through the Python loop below
        self._budget = budget
        self._charged = 0  # of the budget, for what this parser holds
        self._buf: Buffer = b""  # an incomplete frame, kept until ``_need`` bytes
        self._need = 0
        self._skip = 0  # payload bytes still to drop after a failure
        self._state = _OPEN
        self._type = 0  # opcode of the fragmented message in progress, else 0
        self._parts: bytearray | None = None  # a fragmented message, joined as it comes
        self._size = 0  # its cost: bytes, and at least FRAGMENT_COST per fragment
        self._decoder: Any = None

    @property
    def closed(self) -> bool:
        """True once the peer's close frame was seen; later bytes are ignored."""
        return self._state == _CLOSED

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame or message."""
        return len(self._buf) + self._size

    def feed(self, data: Buffer) -> list[Event]:
        """Parse ``data`` (what came after the previous ``feed``); return events."""
        events: list[Event] = []
        if self._state == _CLOSED:
            return events
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return events
            data = data[self._skip :]
            self._skip = 0
        if type(data) is not bytes:  # payloads are sliced from it: bytes, not a view
            data = bytes(data)
        if self._buf:
            buf = self._buf
            buf += data  # a bytearray: amortised appends for a big frame
            if len(buf) < self._need:
                if self._budget is not None:
                    self._charge(events)  # a big frame grows here, read after read
                return events
            data = bytes(buf)
            self._buf = b""
        if self._state == _OPEN:
            pos = self._parse(data, events)
        else:
            pos = self._discard(data, events)
        if pos < len(data) and self._state != _CLOSED:
            self._buf = bytearray(data[pos:])
        if self._budget is not None:
            self._charge(events)
        return events

    def _charge(self, events: list[Event]) -> None:
        """Take from the shared budget what this parser holds now, or fail 1009."""
        held = len(self._buf) + self._size
        change = held - self._charged
        if change > 0 and self._budget is not None and not self._budget.take(change):
            self._fail(events, CLOSE_TOO_BIG, f"the hub's {self._budget.limit} bytes for partial messages are taken")
            # Skipped, not kept, as after any failure: the peer's close is still found.
            rest, self._buf = bytes(self._buf), b""
            pos = self._discard(rest, events) if rest else 0
            if pos < len(rest) and self._state != _CLOSED:
                self._buf = bytearray(rest[pos:])  # part of a header: a few bytes, not charged
            self.release()
            return
        if change < 0 and self._budget is not None:
            self._budget.give(-change)
        self._charged = held

    def release(self) -> None:
        """Give back to the budget what this parser held (its connection is gone)."""
        if self._charged and self._budget is not None:
            self._budget.give(self._charged)
        self._charged = 0

    def _parse(self, data: bytes, events: list[Event]) -> int:
        pos = 0
        end = len(data)
        native = self._native
        while True:
            if native is not None and not self._type:
                # What this loop would do with the common frames, done in C up
                # to the first frame it leaves here (with no message in
                # fragments, _size is 0 too).
                pos = native.parse_common(data, pos, self._max, events)
            avail = end - pos
            if avail < 2:
                self._need = 2
                return pos
            b0 = data[pos]
            b1 = data[pos + 1]
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            length = b1 & 0x7F
            error = None
            if b0 & 0x70:
                error = "reserved bits set"
            elif not b1 & 0x80:
                error = "unmasked client frame"
            elif opcode >= 8:
                if opcode > PONG:
                    error = f"unknown opcode {opcode}"
                elif not fin:
                    error = "fragmented control frame"
                elif length > MAX_CONTROL_PAYLOAD:
                    error = "control frame over 125 bytes"
            elif opcode == 0:
                if not self._type:
                    error = "continuation frame without a message to continue"
            elif opcode > BINARY:
                error = f"unknown opcode {opcode}"
            elif self._type:
                error = "new message before the fragmented one ended"
            if error is not None:
                self._fail(events, CLOSE_PROTOCOL_ERROR, error)
                return pos + self._discard(data[pos:], events)
            if length < 126:
                head = 6
            elif length == 126:
                head = 8
                if avail < 8:
                    self._need = 8
                    return pos
                length = (data[pos + 2] << 8) | data[pos + 3]
            else:
                head = 14
                if avail < 14:
                    self._need = 14
                    return pos
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            if opcode < 8 and self._size + (length if fin and opcode else max(length, FRAGMENT_COST)) > self._max:
                self._fail(events, CLOSE_TOO_BIG, f"message over {self._max} bytes")
                return pos + self._discard(data[pos:], events)
            total = head + length
            if avail < total:
                self._need = total
                return pos
            start = pos + head
            payload = data[start : start + length]
            if length:
                payload = self._unmask(data[start - 4 : start], payload)
            pos += total
            if opcode == TEXT and fin:
                try:
                    events.append((TEXT, payload.decode("utf-8")))
                except UnicodeDecodeError:
                    self._fail(events, CLOSE_INVALID_DATA, "invalid utf-8 in text message")
                    return pos + self._discard(data[pos:], events)
            elif opcode == BINARY and fin:
                events.append((BINARY, payload))
            elif opcode < 8:
                if not self._fragment(opcode, fin, payload, events):
                    return pos + self._discard(data[pos:], events)
            elif opcode == PING or opcode == PONG:
                events.append((opcode, payload))
            else:
                try:
                    events.append((CLOSE, parse_close(payload)))
                except UnicodeDecodeError:
                    self._fail(events, CLOSE_INVALID_DATA, "invalid utf-8 in close reason")
                    return pos + self._discard(data[pos:], events)
                except ValueError as exc:
                    self._fail(events, CLOSE_PROTOCOL_ERROR, str(exc))
                    return pos + self._discard(data[pos:], events)
                self._state = _CLOSED
                return end

    def _fragment(self, opcode: int, fin: int, payload: bytes, events: list[Event]) -> bool:
        """A frame of a fragmented message; False if it broke the protocol."""
        if opcode:  # the first fragment
            self._type = opcode
            self._parts = bytearray()
            self._decoder = _utf8_decoder() if opcode == TEXT else None
        parts: bytearray = self._parts  # type: ignore[assignment]  # set with _type
        self._size += max(len(payload), FRAGMENT_COST)
        decoder = self._decoder
        if decoder is not None:
            try:
                decoder.decode(payload, bool(fin))  # checked as it comes, decoded once whole
            except UnicodeDecodeError:
                self._fail(events, CLOSE_INVALID_DATA, "invalid utf-8 in text message")
                return False
        parts += payload
        if fin:
            message = parts.decode("utf-8") if decoder is not None else bytes(parts)
            events.append((self._type, message))
            self._type = self._size = 0
            self._parts = self._decoder = None
        return True

    def _fail(self, events: list[Event], code: int, reason: str) -> None:
        events.append((FAIL, (code, reason)))
        self._state = _FAILED
        self._type = self._size = 0
        self._parts = self._decoder = None
