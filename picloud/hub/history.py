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
``seq`` means the same on every hub (brokers/redis/); this
class then only stamps and keeps what the hub delivers while Redis is away.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any, NamedTuple

from ..config import Config
from ..wire.stamp import stamp_run
from .message import Message

#: A kept message: when it was kept (0.0 without a ttl), the message, and
#: where its payload starts in its event's payloads laid end to end, which
#: counts the bytes of a run pushed out without reading each payload.
Entry = tuple[float, Message, int]


def _end(kept: deque[Entry]) -> int:
    """Where the payload of ``kept``'s last entry ends (0 if there is none)."""
    if not kept:
        return 0
    _, message, start = kept[-1]
    return start + len(message.payload)


class Page(NamedTuple):
    """A ``GET /history`` answer: its head (event, epoch, last_seq, complete)
    and the kept messages' frames."""

    head: dict[str, Any]
    frames: list[bytes]


def nothing_lost(since: int, last: int, first_kept: int | None) -> bool:
    """Whether a subscriber at ``since`` misses nothing: nothing came after it,
    or what is kept starts right after it."""
    return since == last or first_kept == since + 1


def new_epoch() -> str:
    # Time first so epochs sort by start in logs; random so two hubs started
    # in the same second differ. Only [0-9a-z-]: spliced into JSON unescaped.
    return f"{int(time.time()):x}-{secrets.token_hex(4)}"


class History:
    """In-memory history: the last ``size`` messages per event, optionally at
    most ``ttl`` seconds old. ``size`` 0 keeps nothing (seq still counts).

    At most ``events`` events are remembered: a device that invents names (a
    timestamp in each, say) must not grow a Pi's memory without bound. Past
    that the least recently published event is forgotten, seq and messages.
    Should it be published again, its seq goes on above every seq forgotten
    so far rather than from 1, so a subscriber that remembers an old seq sees
    a gap and is told it could not recover, never a replay of other messages
    under numbers it already had.
    """

    def __init__(
        self,
        size: int = Config.history_size.default,
        ttl: float | None = None,
        epoch: str | None = None,
        events: int = Config.history_events.default,
        max_bytes: int = Config.history_bytes.default,
    ) -> None:
        if size < 0:
            raise ValueError(f"history size must be >= 0, not {size}")
        if events < 1:
            raise ValueError(f"history events must be >= 1, not {events}")
        self.size = size
        self.ttl = ttl or None
        self.events = events
        self.epoch = epoch or new_epoch()
        self._tail = b',"epoch":"%s"}' % self.epoch.encode("ascii")
        # In least recently published order: stamp() re-inserts each event.
        self._seq: dict[str, int] = {}
        self._kept: dict[str, deque[Entry]] = {}
        self._forgotten = 0  # the highest seq of the events forgotten so far
        self.forgotten_events = 0
        self.max_bytes = max_bytes
        self.bytes = 0  # payloads of the kept messages
        self.dropped = 0  # kept messages dropped to stay within max_bytes

    def stamp(self, message: Message) -> None:
        """Give ``message`` its seq and epoch (in its payload) and keep it."""
        event = message.event
        seq = self._take_seq(event) + 1
        self._seq[event] = seq
        message.seq = seq
        message.payload = b'%s,"seq":%d%s' % (message.payload[:-1], seq, self._tail)
        if self.size:
            self._keep(event, message)

    def _keep(self, event: str, message: Message) -> None:
        if len(message.payload) > self.max_bytes:
            self.dropped += 1  # could never fit: not kept, and nothing else shed for it
            return
        # Re-inserted, like _seq: the least recently published are shed first.
        kept = self._kept.pop(event, None)
        if kept is None:
            kept = deque(maxlen=self.size)
        elif len(kept) == self.size:
            self.bytes -= len(kept[0][1].payload)  # the append pushes it out
        self._kept[event] = kept
        kept.append((time.monotonic() if self.ttl else 0.0, message, _end(kept)))
        self.bytes += len(message.payload)
        if self.bytes > self.max_bytes:
            self._shed()

    def _take_seq(self, event: str) -> int:
        """``event``'s last seq, taken out of the counters: put back after
        its new messages, as the most recently published."""
        counts = self._seq
        seq = counts.pop(event, None)
        if seq is None:
            seq = self._forgotten
            if len(counts) >= self.events:
                self._forget_oldest()
        return seq

    def stamp_run(self, run: Sequence[Message]) -> None:
        """``stamp`` each of ``run``, messages all of one event (``message.runs``)."""
        if len(run) == 1:
            self.stamp(run[0])
            return
        event = run[0].event
        seq = self._take_seq(event)
        size = self.size
        kept = self._kept.get(event) if size else None
        start = _end(kept) if kept else 0
        try:
            starts, end = stamp_run(run, seq, self._tail, start)
        except BaseException:
            self._seq[event] = seq  # taken out by _take_seq: a failed stamp must not restart the count
            raise
        self._seq[event] = seq + len(run)
        if not size:
            return
        if self.bytes + end - start > self.max_bytes:
            # Something is dropped or shed on the way: one by one, so that
            # what goes and what is counted is what stamp() would do.
            for message in run:
                self._keep(event, message)
            return
        kept = self._kept.pop(event, None)
        if kept is None:
            kept = deque(maxlen=size)
        self._kept[event] = kept
        pushed = len(kept) + len(run) - size  # out of the deque's far end by the extend
        if pushed > 0:
            # Their bytes by the offsets of the first one kept and of the
            # first one pushed out: the old messages' payloads stay untouched.
            first = kept[0][2] if kept else start
            after = kept[pushed][2] if pushed < len(kept) else starts[pushed - len(kept)]
            self.bytes -= after - first
        self.bytes += end - start
        kept.extend(zip(repeat(time.monotonic() if self.ttl else 0.0), run, starts))

    def _shed(self) -> None:
        """Drop the oldest messages of the least recently published events
        until what is kept fits ``max_bytes``."""
        kept_all = self._kept
        while self.bytes > self.max_bytes and kept_all:
            event = next(iter(kept_all))
            kept = kept_all[event]
            self.bytes -= len(kept.popleft()[1].payload)
            self.dropped += 1
            if not kept:
                del kept_all[event]

    def _forget_oldest(self) -> None:
        event, seq = next(iter(self._seq.items()))
        del self._seq[event]
        kept = self._kept.pop(event, None)
        if kept:
            self.bytes -= sum(len(entry[1].payload) for entry in kept)
        self.forgotten_events += 1
        if seq > self._forgotten:
            self._forgotten = seq

    def last_seq(self, event: str) -> int:
        return self._seq.get(event, 0)

    def _live(self, event: str) -> deque[Entry]:
        kept = self._kept.get(event)
        if kept is None:
            return deque()
        if self.ttl is not None:
            oldest = time.monotonic() - self.ttl
            while kept and kept[0][0] < oldest:
                self.bytes -= len(kept.popleft()[1].payload)
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
            return [entry[1] for entry in kept], False
        messages = [entry[1] for entry in kept if entry[1].seq > seq]
        recovered = nothing_lost(seq, last, messages[0].seq if messages else None)
        return messages, recovered

    def query(self, event: str, since: int, limit: int) -> list[Message]:
        """Up to ``limit`` kept messages after ``since``, oldest first."""
        out = []
        for _, message, _ in self._live(event):
            if message.seq > since:
                out.append(message)
                if len(out) >= limit:
                    break
        return out

    def page(self, event: str, since: int, limit: int, epoch: str | None) -> Page:
        """``GET /history`` from what this hub kept."""
        epoch = epoch or self.epoch
        _, complete = self.since(event, since, epoch)
        # Another epoch's seq says nothing about this one: send what is kept.
        messages = self.query(event, since if epoch == self.epoch else 0, limit)
        head = {"event": event, "epoch": self.epoch, "last_seq": self.last_seq(event), "complete": complete}
        return Page(head, [m.payload for m in messages])
