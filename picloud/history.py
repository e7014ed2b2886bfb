"""Per-event sequence numbers and the last messages of each event.

Every message the hub accepts gets ``seq`` (1, 2, 3... per event) and the
hub's ``epoch``, a string that changes whenever sequences restart: the memory
history is not persisted, so each hub start is a new epoch. A subscriber that
remembers ``(seq, epoch)`` of the last message it saw can ask for what came
after; if the epoch differs or the kept messages no longer reach back that
far, it is told it could not fully recover.

The stamp is spliced into the publish frame once per message (the payload is
still encoded once and shared by every subscriber).

With the Redis broker the sequence and the kept messages live in Redis, so
``seq`` means the same on every hub (brokers/sequencer.py, catchup.py); this
class then only stamps and keeps what the hub delivers while Redis is away.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pubsub import Message


def new_epoch() -> str:
    # Time first so epochs sort by start in logs; random so two hubs started
    # in the same second differ. Only [0-9a-z-]: spliced into JSON unescaped.
    return f"{int(time.time()):x}-{secrets.token_hex(4)}"


class History:
    """In-memory history: the last ``size`` messages per event, optionally at
    most ``ttl`` seconds old. ``size`` 0 keeps nothing (seq still counts)."""

    def __init__(self, size: int = 100, ttl: float | None = None, epoch: str | None = None) -> None:
        if size < 0:
            raise ValueError(f"history size must be >= 0, not {size}")
        self.size = size
        self.ttl = ttl or None
        self.epoch = epoch or new_epoch()
        self._tail = b',"epoch":"%s"}' % self.epoch.encode("ascii")
        self._seq: dict[str, int] = {}
        self._kept: dict[str, deque[tuple[float, Message]]] = {}

    def stamp(self, message: Message) -> None:
        """Give ``message`` its seq and epoch (in its payload) and keep it."""
        event = message.event
        seq = self._seq.get(event, 0) + 1
        self._seq[event] = seq
        message.seq = seq
        message.payload = b'%s,"seq":%d%s' % (message.payload[:-1], seq, self._tail)
        if self.size:
            kept = self._kept.get(event)
            if kept is None:
                kept = self._kept[event] = deque(maxlen=self.size)
            kept.append((time.monotonic() if self.ttl else 0.0, message))

    def last_seq(self, event: str) -> int:
        return self._seq.get(event, 0)

    def _live(self, event: str) -> deque[tuple[float, Message]]:
        kept = self._kept.get(event)
        if kept is None:
            return deque()
        if self.ttl is not None:
            oldest = time.monotonic() - self.ttl
            while kept and kept[0][0] < oldest:
                kept.popleft()
            if not kept:
                del self._kept[event]
        return kept

    def since(self, event: str, seq: int, epoch: str | None) -> tuple[list[Message], bool]:
        """Kept messages after ``seq``, and whether nothing after it was lost.

        With a different epoch, every kept message is returned and the answer
        is not recovered.
        """
        kept = self._live(event)
        last = self._seq.get(event, 0)
        if epoch != self.epoch or seq > last:
            return [m for _, m in kept], False
        messages = [m for _, m in kept if m.seq > seq]
        recovered = seq == last or bool(messages and messages[0].seq == seq + 1)
        return messages, recovered

    def query(self, event: str, since: int, limit: int) -> list[Message]:
        """Up to ``limit`` kept messages after ``since``, oldest first."""
        out = []
        for _, message in self._live(event):
            if message.seq > since:
                out.append(message)
                if len(out) >= limit:
                    break
        return out
