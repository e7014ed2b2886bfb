"""Which messages are recorded as readings, and the hand-over to the store.

The publish path pays one dict lookup per message (whether its event is
recorded, remembered per name) and, for a recorded one, an append: the
message is shared, not copied. Parsing, numbers and SQL happen in the
store's writer thread once an interval (stores/sqlite/readings.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..wire.topics import is_filter, matches, validate_filter
from .message import Message

#: Bytes of recorded messages waiting for the store's next write. Past it
#: (a store that cannot keep up: a dying SD card) new ones are not
#: recorded, and counted: the hub's memory stays bounded.
MAX_PENDING_BYTES = 8 * 1024 * 1024
#: Event names whose verdict is remembered; past it the memory starts over.
MAX_REMEMBERED = 16384

Entry = tuple[float, Message]


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
        self.pending: list[Entry] = []
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
        size = len(message.payload)
        if self.pending_bytes + size > self.max_pending_bytes:
            self.dropped += 1
            return
        if not self.pending and self.on_pending is not None:
            self.on_pending()
        self.pending.append((self._clock(), message))
        self.pending_bytes += size

    def take(self) -> list[Entry]:
        """What waits, handed to the store's write (on the loop)."""
        taken, self.pending, self.pending_bytes = self.pending, [], 0
        return taken
