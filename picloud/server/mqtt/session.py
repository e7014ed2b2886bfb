"""An MQTT client's session: what the hub delivers to, whether or not the
client is connected.

The session, not the socket, is subscribed in the hub (hub/pubsub.py), so a
persistent session (clean session 0) goes on collecting QoS 1 and 2
messages while its client is away: at most ``queue_limit`` messages and
``queue_bytes`` of payload, the oldest dropped and counted. Its messages in
flight (sent, not yet acknowledged) are sent again with DUP set when the
client comes back [MQTT-4.4.0-1]; at most ``max_inflight`` are in flight at
once, the rest wait in the queue.

Every session's messages, queued or in flight, also count in one pool
(pool.py). What changes while its client is away, or in what it is
subscribed to, is saved (persist.py): ``changed`` is told.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Protocol

from ...hub.message import Message
from ...hub.rights import Permissions
from ...wire.topics import matches
from .pool import UNNAMEABLE, SessionPool, size_of


class Link(Protocol):
    """The connected client a session writes to (connection.py)."""

    direct: bool  # False: QoS 0 goes through send_qos0 (a replay being written, a bridge)

    def deliver(self, framed: Any) -> None: ...  # its queue (server/outbox.py)
    def send_qos0(self, message: Message) -> None: ...
    def send_publish(self, message: Message, qos: int, packet_id: int, dup: bool) -> None: ...
    def send_pubrel(self, packet_id: int) -> None: ...
    def close(self) -> None: ...


class Outgoing:
    __slots__ = ("message", "qos", "released", "size")

    def __init__(self, message: Message, qos: int, size: int) -> None:
        self.message = message
        self.qos = qos
        self.size = size  # as counted in the pool
        self.released = False  # QoS 2: PUBREC came, PUBREL sent, PUBCOMP awaited


def nothing() -> None:
    pass


class Session:
    # An idle connection's memory counts: no instance dict.
    __slots__ = ("awaiting_release", "changed", "clean", "client_id", "connected_at_stop", "dropped", "hold_token",
                 "inflight", "key_fingerprint", "left_at", "left_wall", "link", "max_granted", "max_inflight",
                 "min_granted", "next_id", "permissions", "pool", "queue", "queued_bytes", "subscriptions")

    def __init__(self, client_id: str, clean: bool, pool: SessionPool) -> None:
        self.client_id = client_id
        self.clean = clean
        self.pool = pool
        self.max_inflight = pool.max_inflight
        self.subscriptions: dict[str, int] = {}  # filter -> granted QoS
        self.max_granted = self.min_granted = 0
        self.link: Link | None = None
        self.permissions: Permissions | None = None
        self.key_fingerprint: bytes | None = None  # the key it was made under
        self.queue: deque[tuple[Message, int, int]] = deque()  # message, QoS, size in the pool
        self.queued_bytes = 0
        self.inflight: dict[int, Outgoing] = {}
        self.awaiting_release: set[int] = set()  # incoming QoS 2 ids before their PUBREL
        self.dropped = 0
        self.left_at: float | None = None  # when its client went away (monotonic)
        self.left_wall: float | None = None  # the same, as wall time (saved)
        self.next_id = 0
        self.connected_at_stop = False  # its client was connected until the hub stopped
        self.hold_token = 0  # its place among the away sessions holding messages (pool.py)
        # Told of each change worth saving (the store, for a persistent session).
        self.changed: Callable[[], None] = nothing

    def granted(self, event: str) -> int:
        """The highest QoS granted by the subscriptions matching ``event``:
        one delivery at that QoS however many match [MQTT-3.3.5-1]."""
        if self.min_granted == self.max_granted:
            return self.max_granted  # the hub delivers only what some filter matches
        return max((qos for filter_, qos in self.subscriptions.items() if matches(filter_, event)), default=0)

    def set_granted(self, filter_: str, qos: int | None) -> None:
        if qos is None:
            self.subscriptions.pop(filter_, None)
        else:
            self.subscriptions[filter_] = qos
        self.regranted()
        self.changed()

    def regranted(self) -> None:
        values = self.subscriptions.values()
        self.max_granted = max(values, default=0)
        self.min_granted = min(values, default=0)

    # -- the hub delivers here ---------------------------------------------------

    def deliver(self, message: Message) -> None:
        origin = message.origin
        if origin is not None and origin == self.client_id:
            return  # a bridge's own message (publishing.py)
        qos = message.qos
        if qos and self.max_granted:
            qos = min(qos, self.granted(message.event))
        else:
            # The fan-out path: QoS 0 is not kept for an absent client, and
            # a PUBLISH built once for the message goes to every connected one.
            link = self.link
            if link is not None:
                framed = message._mqtt
                if framed is None or not link.direct:
                    link.send_qos0(message)
                elif framed is UNNAMEABLE:
                    self.pool.unnameable += 1
                else:
                    link.deliver(framed)
            return
        link = self.link
        if not qos:  # matched only by filters granted QoS 0
            if link is not None:
                link.send_qos0(message)
            return
        event = message.event
        if "+" in event or "#" in event:
            self.pool.unnameable += 1  # see UNNAMEABLE
            return
        size = size_of(message)
        if link is not None and len(self.inflight) < self.max_inflight and self.pool.fits(size, self):
            self.pool.used += size
            self._send(message, qos, size)
        else:
            self._enqueue(message, qos, size)
            if link is None:
                self.changed()  # a connected client's window churns too fast to save each time

    def _enqueue(self, message: Message, qos: int, size: int) -> None:
        pool = self.pool
        if size > pool.queue_bytes or (
                not pool.fits(size, self) and pool.used - self.queued_bytes + size > pool.total_bytes):
            self._drop()  # even its whole queue would not make room: only this one goes
            return
        queue = self.queue
        while queue and (len(queue) >= pool.queue_limit or self.queued_bytes + size > pool.queue_bytes
                         or pool.used + size > pool.total_bytes):
            self.drop_oldest()
        queue.append((message, qos, size))
        self.queued_bytes += size
        pool.used += size
        if self.link is None:
            pool.away_queued(self, size)

    def drop_oldest(self) -> None:
        _, _, size = self.queue.popleft()
        self.queued_bytes -= size
        pool = self.pool
        pool.used -= size
        if self.link is None:
            pool.away_queued(self, -size)
        self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        self.pool.dropped += 1

    def _send(self, message: Message, qos: int, size: int) -> None:
        assert self.link is not None
        packet_id = self._free_id()
        self.inflight[packet_id] = Outgoing(message, qos, size)
        self.link.send_publish(message, qos, packet_id, False)

    def _free_id(self) -> int:
        for _ in range(65535):
            self.next_id = self.next_id % 65535 + 1
            if self.next_id not in self.inflight:
                return self.next_id
        raise RuntimeError("no free packet id")  # max_inflight keeps far below 65535

    def fill(self) -> None:
        """Send what waits, as far as the window allows."""
        queue = self.queue
        while queue and self.link is not None and len(self.inflight) < self.max_inflight:
            message, qos, size = queue.popleft()
            self.queued_bytes -= size  # still in the pool: now in flight
            self._send(message, qos, size)

    # -- the client acknowledges -------------------------------------------------------

    def acked(self, packet_id: int, qos: int) -> None:
        """PUBACK (``qos`` 1) or PUBCOMP (2, after PUBREC): done with it."""
        outgoing = self.inflight.get(packet_id)
        if outgoing is None or outgoing.qos != qos or (qos == 2 and not outgoing.released):
            return  # not what is in flight under that id: ignored
        del self.inflight[packet_id]
        self.pool.used -= outgoing.size
        self.fill()

    def received(self, packet_id: int) -> bool:
        """PUBREC: answer PUBREL; False for an id not in flight."""
        outgoing = self.inflight.get(packet_id)
        if outgoing is None or outgoing.qos != 2:
            return False
        outgoing.released = True
        return True

    # -- the client comes and goes -------------------------------------------------------

    def attach(self, link: Link) -> None:
        """A client connected to this session: what was in flight goes again."""
        was_away = self.link is None
        self.link = link
        self.hold_token = 0
        if was_away and self.queued_bytes:
            self.pool.away_queued(self, -self.queued_bytes)  # connected: not for others to take
        self.left_at = self.left_wall = None
        for packet_id, outgoing in self.inflight.items():
            if outgoing.released:
                link.send_pubrel(packet_id)
            else:
                link.send_publish(outgoing.message, outgoing.qos, packet_id, True)
        self.fill()
        self.changed()

    def detach(self) -> None:
        self.link = None
        self.left_at = time.monotonic()
        self.left_wall = time.time()
        self.hold_token = 0
        if self.queued_bytes:
            self.pool.away_queued(self, self.queued_bytes)
        self.changed()

    def keep_only_matched(self) -> None:
        """Drop the queued messages no subscription matches any more (its
        key's topics were narrowed); those in flight stay, as sent."""
        kept = [item for item in self.queue if any(matches(f, item[0].event) for f in self.subscriptions)]
        for _ in range(len(self.queue) - len(kept)):
            self._drop()
        gone = self.queued_bytes - sum(size for _, _, size in kept)
        self.pool.used -= gone
        self.queued_bytes -= gone
        self.queue = deque(kept)
        if self.link is None:
            self.pool.away_queued(self, -gone)
        self.changed()

    def discard(self) -> None:
        """The session ends: what it held leaves the pool."""
        pool = self.pool
        pool.used -= self.queued_bytes + sum(outgoing.size for outgoing in self.inflight.values())
        queued = self.queued_bytes
        self.queue.clear()
        self.queued_bytes = 0
        if self.link is None and queued:
            pool.away_queued(self, -queued)
        self.inflight.clear()
        self.changed()
        self.changed = nothing
