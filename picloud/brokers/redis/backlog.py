"""The bounded queue of messages on their way to Redis.

Normally it holds only what arrived during one round trip; while Redis is
away it keeps up to ``limit`` messages and ``max_bytes`` of them, dropping
(and counting) the oldest.
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Optional

from ...config import Config

log = logging.getLogger("picloud.broker")


#: One message for other hubs: its channel, the tagged frame, and when it is
#: retained (event, frame or None to clear) the value to write in Redis.
Relayed = tuple[bytes, bytes, Optional[tuple[bytes, Optional[bytes]]]]


def size_of(item: Relayed) -> int:
    channel, data, retain = item
    return len(channel) + len(data) + (len(retain[1] or b"") if retain is not None else 0)


class Backlog:
    def __init__(self, limit: int, max_bytes: int = Config.broker_outbox_bytes.default) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.queue: collections.deque[Relayed] = collections.deque()
        self.inflight: list[Relayed] = []  # taken, not yet confirmed
        self.bytes = 0  # of what is queued and in flight
        self.dropped = 0
        self._unreported = 0

    def __len__(self) -> int:
        return len(self.queue) + len(self.inflight)

    def append(self, item: Relayed) -> None:
        self.queue.append(item)
        self.bytes += size_of(item)
        self._trim()

    def _trim(self) -> None:
        queue = self.queue
        dropped = 0
        bound = f"{self.limit} messages" if len(queue) > self.limit else f"{self.max_bytes} bytes"
        while queue and (len(queue) > self.limit or self.bytes > self.max_bytes):
            self.bytes -= size_of(queue.popleft())
            dropped += 1
        if dropped:
            self._drop(dropped, bound)

    def take(self, most: int) -> list[Relayed]:
        queue = self.queue
        self.inflight = [queue.popleft() for _ in range(min(len(queue), most))]
        return self.inflight

    def confirm(self) -> None:
        self.bytes -= sum(size_of(item) for item in self.inflight)
        self.inflight = []

    async def relay(self, client: Any, most: int, retained_key: str) -> None:
        """PUBLISH up to ``most`` messages delivered here while Redis was away
        (and retain those that asked), in one round trip."""
        pipe = client.pipeline(transaction=False)
        for channel, data, retain in self.take(most):
            pipe.publish(channel, data)
            if retain is not None:
                event, frame = retain
                if frame is None:
                    pipe.hdel(retained_key, event)
                else:
                    pipe.hset(retained_key, event, frame)
        await pipe.execute()
        self.confirm()

    def requeue(self) -> None:
        """Put unconfirmed messages back in front: a repeat beats a loss."""
        if not self.inflight:
            return
        self.queue.extendleft(reversed(self.inflight))
        self.inflight = []
        self._trim()

    def report(self) -> None:
        """Log how many messages were dropped since the last report."""
        if self._unreported:
            log.warning("%d messages for other hubs were dropped (outbox full)", self._unreported)
            self._unreported = 0

    def _drop(self, count: int, bound: str) -> None:
        if not self._unreported:
            log.warning("broker outbox full (%s): dropping the oldest messages for other hubs", bound)
        self.dropped += count
        self._unreported += count
