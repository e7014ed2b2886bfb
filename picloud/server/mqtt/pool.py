"""The bytes every MQTT session's QoS 1 and 2 messages take together, queued
or in flight, within ``--mqtt-session-bytes``: a thousand away sessions must
not add up to more than the hub's memory budget allows.

When the pool is full, the sessions whose clients are away give way first,
the one away longest first (their oldest messages go), so that they cannot
starve the clients that are connected; only then does a session drop its
own oldest, and a message that still does not fit is dropped (all counted).
"""

from __future__ import annotations

from typing import Any, Callable

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


def no_room(size: int, asking: Any) -> None:
    pass


class SessionPool:
    """What every session shares: the limits, the bytes of messages they all
    hold, and what was dropped."""

    __slots__ = ("dropped", "make_room", "max_inflight", "queue_bytes", "queue_limit", "total_bytes",
                 "unnameable", "used")

    def __init__(self, *, queue_limit: int, queue_bytes: int, max_inflight: int, total_bytes: int) -> None:
        self.queue_limit = queue_limit  # messages a session queues
        self.queue_bytes = queue_bytes  # bytes a session queues
        self.max_inflight = max_inflight
        self.total_bytes = total_bytes  # bytes all sessions hold, queued or in flight
        self.used = 0
        self.dropped = 0
        self.unnameable = 0  # deliveries skipped: see UNNAMEABLE
        # Frees ``size`` bytes from the away sessions but ``asking`` (the listener's).
        self.make_room: Callable[[int, Any], None] = no_room

    def fits(self, size: int, asking: Any) -> bool:
        """Whether ``size`` more bytes fit, once away sessions made room."""
        if self.used + size <= self.total_bytes:
            return True
        self.make_room(size, asking)
        return self.used + size <= self.total_bytes
