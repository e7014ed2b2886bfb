"""Which messages are recorded as readings, and the hand-over to the store.

The publish path pays one dict lookup per message (whether its event is
recorded, remembered per name) and, for a recorded one, three appends: its
time, its event's name and its frame, shared, not copied. Not the message
itself, nor a tuple: objects the garbage collector tracks, kept for an
interval, would make it run four times as often on the event loop. Parsing,
numbers and SQL happen in the store's writer thread once an interval
(stores/sqlite/readings.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from ..wire.codec import publish_head
from ..wire.framefields import no_numbers
from ..wire.topics import is_filter, matches, validate_filter
from .message import Message

#: Bytes of recorded frames waiting for the store's next write: an
#: interval's worth at 150,000 messages a second. Past it (a store that
#: cannot keep up: a dying SD card) new ones are not recorded, and counted:
#: the hub's memory stays bounded.
MAX_PENDING_BYTES = 32 * 1024 * 1024
#: What a waiting entry costs beside its frame: its time and three list slots.
ENTRY_BYTES = 64
#: Event names whose verdict is remembered; past it the memory starts over.
MAX_REMEMBERED = 16384

Entry = tuple[float, str, bytes]  # when, event, frame




class Pending:
    """Recorded messages not yet written, as three lists side by side, and
    by event how many more came that are only counted (``record_run``)."""

    __slots__ = ("events", "frames", "more", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.events: list[str] = []
        self.frames: list[bytes] = []
        self.more: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.times) + sum(self.more.values())

    def __iter__(self) -> Iterator[Entry]:
        return zip(self.times, self.events, self.frames)


class Recorder:
    """Called by the hub with every message delivered (``Subscriptions.deliver``)."""

    def __init__(self, patterns: Sequence[str], max_pending_bytes: int = MAX_PENDING_BYTES,
                 clock: Callable[[], float] = time.time) -> None:
        for pattern in patterns:
            if is_filter(pattern):
                validate_filter(pattern)
        self.patterns = tuple(dict.fromkeys(patterns))
        self.max_pending_bytes = max_pending_bytes
        self._clock = clock
        self._wanted: dict[str, bool] = {}
        self.pending = Pending()
        self.pending_bytes = 0
        self.dropped = 0  # not recorded: the store was behind by max_pending_bytes
        #: Told when a first message waits (the store plans its write).
        self.on_pending: Callable[[], None] | None = None

    def wants(self, event: str) -> bool:
        return any(matches(pattern, event) for pattern in self.patterns)

    def __call__(self, message: Message) -> None:
        if message.from_retained:
            return  # a retained value sent again, not a new reading
        wanted = self._wanted.get(message.event)
        if wanted is None:
            if len(self._wanted) >= MAX_REMEMBERED:
                self._wanted.clear()
            wanted = self._wanted[message.event] = self.wants(message.event)
        if not wanted:
            return
        size = len(message.payload) + ENTRY_BYTES
        if self.pending_bytes + size > self.max_pending_bytes:
            self.dropped += 1
            return
        pending = self.pending
        if not pending.times and self.on_pending is not None:
            self.on_pending()
        pending.times.append(self._clock())
        pending.events.append(message.event)
        pending.frames.append(message.payload)
        self.pending_bytes += size

    def record_run(self, event: str, messages: Sequence[Message]) -> None:
        """What ``__call__`` does for each of ``messages``, all of ``event``
        (the messages of one read): the verdict and the time taken once."""
        wanted = self._wanted.get(event)
        if wanted is None:
            if len(self._wanted) >= MAX_REMEMBERED:
                self._wanted.clear()
            wanted = self._wanted[event] = self.wants(event)
        if not wanted:
            return
        frames = [message.payload for message in messages if not message.from_retained]
        if not frames:
            return
        more = 0
        if no_numbers(frames, publish_head(event)):
            # No number in any: all but the first would be counted and
            # dropped by the store (they share its time), so they are only counted.
            more = len(frames) - 1
            frames = frames[:1]
        size = sum(map(len, frames)) + ENTRY_BYTES * len(frames)
        if self.pending_bytes + size > self.max_pending_bytes:
            for message in messages:  # as many as fit, one by one
                self(message)
            return
        pending = self.pending
        if not pending.times and self.on_pending is not None:
            self.on_pending()
        pending.times += [self._clock()] * len(frames)
        pending.events += [event] * len(frames)
        pending.frames += frames
        if more:
            pending.more[event] = pending.more.get(event, 0) + more
        self.pending_bytes += size

    def take(self) -> Pending:
        """What waits, handed to the store's write (on the loop)."""
        taken, self.pending, self.pending_bytes = self.pending, Pending(), 0
        return taken
