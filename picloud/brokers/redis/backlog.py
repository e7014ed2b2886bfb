"""The bounded queue of messages on their way to Redis.

Normally it holds only what arrived during one round trip; while Redis is
away it keeps up to ``limit`` messages, dropping (and counting) the oldest.
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Optional

log = logging.getLogger("picloud.broker")


#: One message for other hubs: its channel, the tagged frame, and when it is
#: retained (event, frame or None to clear) the value to write in Redis.
Relayed = tuple[bytes, bytes, Optional[tuple[bytes, Optional[bytes]]]]


class Backlog:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queue: collections.deque[Relayed] = collections.deque()
        self.inflight: list[Relayed] = []  # taken, not yet confirmed
        self.dropped = 0
        self._unreported = 0

    def __len__(self) -> int:
        return len(self.queue) + len(self.inflight)

    def append(self, item: Relayed) -> None:
        queue = self.queue
        if len(queue) >= self.limit:
            queue.popleft()
            self._drop(1)
        queue.append(item)

    def take(self, most: int) -> list[Relayed]:
        queue = self.queue
        self.inflight = [queue.popleft() for _ in range(min(len(queue), most))]
        return self.inflight

    def confirm(self) -> None:
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
        excess = len(self.queue) - self.limit
        if excess > 0:
            for _ in range(excess):
                self.queue.popleft()
            self._drop(excess)

    def report(self) -> None:
        """Log how many messages were dropped since the last report."""
        if self._unreported:
            log.warning("%d messages for other hubs were dropped (outbox full)", self._unreported)
            self._unreported = 0

    def _drop(self, count: int) -> None:
        if not self._unreported:
            log.warning(
                "broker outbox full (%d messages): dropping the oldest messages for other hubs", self.limit
            )
        self.dropped += count
        self._unreported += count
