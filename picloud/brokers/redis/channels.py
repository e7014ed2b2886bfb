"""The Redis channels a node subscribes to, kept equal to what its clients want.

A node SUBSCRIBEs to ``<prefix>:msg:<event>`` for each event its local
clients want and UNSUBSCRIBEs once the last of them leaves, so traffic for
events nobody here watches never reaches it. Redis patterns are not
MQTT-style wildcards: while any local client has a wildcard filter the node
PSUBSCRIBEs to every event of the prefix instead, and the hub filters
locally. The broad subscription is made before the exact ones are dropped,
and dropped only after they are made again, so no message falls in between.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ...wire.topics import is_filter
from .confirmations import Confirmations


class Channels:
    def __init__(self, prefix: str) -> None:
        self.prefix = f"{prefix}:msg:".encode()
        # The PSUBSCRIBE pattern for every event: the prefix with glob characters escaped.
        self.everything = re.sub(rb"([*?\[\]\\])", rb"\\\1", self.prefix) + b"*"
        self.confirmations = Confirmations(self.channel)
        self.changed = asyncio.Event()  # what clients want changed: follow() acts on it
        self._wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._filters = 0  # wanted wildcard filters: while any, subscribe to everything
        self._broad = False  # subscribed to self.everything

    def channel(self, event: str) -> bytes:
        return self.prefix + event.encode()

    def want(self, event: str, wanted: bool) -> None:
        """A local client wants ``event`` (or a filter), or the last one stopped."""
        if wanted:
            self._wanted.add(event)
        else:
            self._wanted.discard(event)
        if is_filter(event):
            self._filters += 1 if wanted else -1
        self.changed.set()

    async def subscribe(self, pubsub: Any, control: bytes) -> int:
        """A new session's subscriptions, ``control`` included; how many Redis will confirm."""
        broad, wanted = self._target()
        await pubsub.subscribe(control, *map(self.channel, wanted))
        if broad:
            await pubsub.psubscribe(self.everything)
        self._subscribed, self._broad = wanted, broad
        return 1 + len(wanted) + broad

    async def follow(self, pubsub: Any) -> None:
        """Keep the session's subscriptions equal to what local clients want."""
        confirmations = self.confirmations
        while True:
            await self.changed.wait()
            self.changed.clear()
            broad, wanted = self._target()
            if broad and not self._broad:  # the broad subscription first: no gap
                self._broad = True
                await pubsub.psubscribe(self.everything)
            add = wanted - self._subscribed
            remove = self._subscribed - wanted
            if add:
                self._subscribed |= add
                await pubsub.subscribe(*map(self.channel, add))
            if remove:
                self._subscribed -= remove
                confirmations.channels.difference_update(map(self.channel, remove))
                await pubsub.unsubscribe(*map(self.channel, remove))
            if self._broad and not broad:
                self._broad = confirmations.broad = False
                await pubsub.punsubscribe(self.everything)

    def confirmed(self, message: dict[str, Any]) -> None:
        """Redis confirmed a SUBSCRIBE or PSUBSCRIBE (a message of that type)."""
        if message["type"] == "psubscribe":
            if self._broad:
                self.confirmations.confirmed(None)
        elif message["channel"].startswith(self.prefix):
            self.confirmations.confirmed(message["channel"])

    def _target(self) -> tuple[bool, set[str]]:
        """Whether to subscribe to every event, and else to which."""
        if self._filters:
            return True, set()
        return False, set(self._wanted)
