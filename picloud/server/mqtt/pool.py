"""The bytes every MQTT session's QoS 1 and 2 messages take together, queued
or in flight, within ``--mqtt-session-bytes``: a thousand away sessions must
not add up to more than the hub's memory budget allows.

When the pool is full, the sessions whose clients are away give way, the
one away longest first (its oldest messages go), so that they cannot starve
the clients that are connected, and an away session only takes room from
those away longer than itself; then a session drops its own oldest; a
message that still does not fit is dropped (all counted). If the away
sessions hold too little to make room, nobody's messages go but the new
one. The away sessions holding messages are a heap by when they left: no
step scans the sessions.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from itertools import count
from typing import Any

from ...hub.message import Message
from ...wire.mqtt.payloads import from_frame


class _Unnameable:
    __slots__ = ()


#: What a message's ``_mqtt`` holds when no MQTT topic can name its event:
#: PiCloud takes ``c#`` or ``a+b`` as names, but a PUBLISH's topic must not
#: contain ``+`` or ``#`` [MQTT-3.3.2-2], so MQTT subscribers do not get it.
UNNAMEABLE: Any = _Unnameable()


def size_of(message: Message) -> int:
    """What a message counts for in the pool (taken once, kept with it)."""
    return len(message.raw or message.payload)


def mqtt_payload(message: Message) -> bytes:
    """The MQTT payload of a hub message: as an MQTT client sent it, or made
    from its frame once (wire/mqtt/payloads.py)."""
    raw = message.raw
    if raw is None:
        raw = message.raw = from_frame(message.payload)
    return raw


def _valid(entry: tuple[float, int, Any]) -> bool:
    session = entry[2]
    return session.hold_token == entry[1] and session.link is None and session.queued_bytes > 0


class SessionPool:
    """What every session shares: the limits, the bytes of messages they all
    hold, and what was dropped."""

    def __init__(self, *, queue_limit: int, queue_bytes: int, max_inflight: int, total_bytes: int) -> None:
        self.queue_limit = queue_limit  # messages a session queues
        self.queue_bytes = queue_bytes  # bytes a session queues
        self.max_inflight = max_inflight
        self.total_bytes = total_bytes  # bytes all sessions hold, queued or in flight
        self.used = 0
        self.dropped = 0
        self.unnameable = 0  # deliveries skipped: see UNNAMEABLE
        # Away sessions with queued messages, a heap of (left_at, token,
        # session); an entry is stale once its session's hold_token differs
        # (its client came back, or it left again) or its queue emptied.
        self.holding: list[tuple[float, int, Any]] = []
        self.away_bytes = 0  # what away sessions queue
        self._tokens = count(1)

    def away_queued(self, session: Any, delta: int) -> None:
        """``delta`` more bytes queued by sessions whose clients are away:
        ``session``'s (its queue and its link already changed)."""
        self.away_bytes += delta
        if session.link is None and session.queued_bytes and not session.hold_token:
            token = session.hold_token = next(self._tokens)
            heappush(self.holding, (session.left_at or 0.0, token, session))
            if len(self.holding) > 1024 and len(self.holding) > 4 * sum(map(_valid, self.holding)):
                self.holding = [entry for entry in self.holding if _valid(entry)]
                heapify(self.holding)

    def _oldest(self) -> Any:
        """The session away longest that queues messages, or None."""
        holding = self.holding
        while holding and not _valid(holding[0]):
            _, token, session = heappop(holding)
            if session.hold_token == token:
                session.hold_token = 0  # its queue emptied: a new entry when it fills again
        return holding[0][2] if holding else None

    def fits(self, size: int, asking: Any) -> bool:
        """Whether ``size`` more bytes fit, once away sessions made room."""
        need = self.used + size - self.total_bytes
        if need <= 0:
            return True
        away = asking is not None and asking.link is None
        if self.away_bytes - (asking.queued_bytes if away else 0) < need:
            return False  # they could not make room: none of theirs go for nothing
        touched: list[Any] = []
        while self.used + size > self.total_bytes:
            session = self._oldest()
            if session is None or session is asking or (away and (session.left_at or 0.0) > asking.left_at):
                break  # those left are away for less time than the one asking
            session.drop_oldest()
            if not touched or touched[-1] is not session:
                touched.append(session)
        for session in touched:
            session.changed()
        return self.used + size <= self.total_bytes
