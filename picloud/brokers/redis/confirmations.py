"""What a node knows about its own Redis subscriptions, for catch-ups.

A catch-up may read Redis only once Redis confirmed the node's SUBSCRIBE for
the event (or its PSUBSCRIBE to every event), else a message published between
the read and the subscription would reach nobody here. The read then
PUBLISHes a marker on the node's control channel, and the catch-up waits for
it: it arrives after every message published before the read.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from ...exceptions import BrokerError


class Confirmations:
    def __init__(self, channel: Callable[[str], bytes]) -> None:
        self._channel = channel
        self.channels: set[bytes] = set()  # channels whose SUBSCRIBE redis confirmed
        self.broad = False  # the PSUBSCRIBE to every event is confirmed
        self._waiters: list[tuple[str, asyncio.Future[None]]] = []
        self._markers: dict[bytes, asyncio.Future[None]] = {}
        self._count = 0

    def covers(self, event: str) -> bool:
        """Whether messages on ``event`` published now will reach this node."""
        return self.broad or self._channel(event) in self.channels

    async def ready(self, event: str) -> None:
        if self.covers(event):
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((event, waiter))
        await waiter

    def confirmed(self, channel: bytes | None) -> None:
        """Redis confirmed a SUBSCRIBE to ``channel`` (None: the broad PSUBSCRIBE)."""
        if channel is None:
            self.broad = True
        else:
            self.channels.add(channel)
        if self._waiters:
            waiting = []
            for event, waiter in self._waiters:
                if waiter.done():
                    continue
                if self.covers(event):
                    waiter.set_result(None)
                else:
                    waiting.append((event, waiter))
            self._waiters = waiting

    def marker(self) -> tuple[bytes, asyncio.Future[None]]:
        self._count += 1
        marker = b"m%d" % self._count
        arrived = self._markers[marker] = asyncio.get_running_loop().create_future()
        return marker, arrived

    def forget(self, marker: bytes) -> None:
        self._markers.pop(marker, None)

    def arrived(self, marker: bytes) -> None:
        future = self._markers.get(marker)
        if future is not None and not future.done():
            future.set_result(None)

    def cut_off(self) -> None:
        """The session ended: nothing is confirmed any more, nobody waits for it."""
        self.channels.clear()
        self.broad = False
        error = BrokerError("redis became unreachable")
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters = []
        for future in self._markers.values():
            if not future.done():
                future.set_exception(error)
