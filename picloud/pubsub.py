"""Connections, subscriptions and fan-out. Knows nothing of Tornado or sockets.

A connection is any hashable object with a ``deliver(message)`` method; the
websocket handlers are the real ones, tests use plain objects. ``deliver``
must not block and must not change subscriptions while it runs: the hub calls
it for every subscriber inside one loop over the event's subscriber set.
"""

from __future__ import annotations

from typing import Any, Protocol

from .brokers.base import Broker
from .brokers.memory import MemoryBroker
from .frames import encode_frame
from .protocol import encode_publish, utc_timestamp, validate_event


class Message:
    """One published message, encoded once and shared by every subscriber."""

    __slots__ = ("_frame", "event", "payload")

    def __init__(self, event: str, payload: bytes) -> None:
        self.event = event
        self.payload = payload  # the JSON publish frame, UTF-8
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        """The payload as a complete websocket text frame, built on first use."""
        frame = self._frame
        if frame is None:
            frame = self._frame = encode_frame(self.payload)
        return frame


class Connection(Protocol):
    def deliver(self, message: Message) -> None: ...


class PubSub:
    def __init__(self, broker: Broker | None = None) -> None:
        self.broker: Broker = broker if broker is not None else MemoryBroker()
        # Insertion-ordered dicts used as sets: info lists in connect order.
        self._clients: dict[Connection, tuple[str, str, str]] = {}
        self._subscribers: dict[str, dict[Connection, None]] = {}
        self._events_of: dict[Connection, dict[str, None]] = {}
        self.published = 0
        self.delivered = 0

    # -- connections -------------------------------------------------------

    def connect(self, conn: Connection, client_name: str, ip_address: str) -> None:
        """Register a ``/subscribe`` or ``/publish`` connection (listed in info)."""
        self._clients[conn] = (client_name, ip_address, utc_timestamp())

    def disconnect(self, conn: Connection) -> None:
        """Forget everything about ``conn``; safe to call more than once."""
        self.unsubscribe_all(conn)
        self._clients.pop(conn, None)

    @property
    def connection_count(self) -> int:
        return len(self._clients)

    # -- subscriptions -----------------------------------------------------

    def subscribe(self, conn: Connection, event: str) -> bool:
        """Subscribe ``conn`` to ``event``; False if it already was."""
        events = self._events_of.setdefault(conn, {})
        if event in events:
            return False
        events[event] = None
        subscribers = self._subscribers.get(event)
        if subscribers is None:
            subscribers = self._subscribers[event] = {}
            self.broker.interest(event, True)
        subscribers[conn] = None
        return True

    def unsubscribe(self, conn: Connection, event: str) -> bool:
        """Unsubscribe ``conn`` from ``event``; False if it was not subscribed."""
        events = self._events_of.get(conn)
        if events is None or event not in events:
            return False
        del events[event]
        if not events:
            del self._events_of[conn]
        self._drop_subscriber(event, conn)
        return True

    def unsubscribe_all(self, conn: Connection) -> int:
        events = self._events_of.pop(conn, None)
        if not events:
            return 0
        for event in events:
            self._drop_subscriber(event, conn)
        return len(events)

    def _drop_subscriber(self, event: str, conn: Connection) -> None:
        subscribers = self._subscribers[event]
        del subscribers[conn]
        if not subscribers:
            del self._subscribers[event]
            self.broker.interest(event, False)

    def subscriptions_of(self, conn: Connection) -> list[str]:
        return list(self._events_of.get(conn, ()))

    def subscription_count(self, conn: Connection) -> int:
        return len(self._events_of.get(conn, ()))

    def is_subscribed(self, conn: Connection, event: str) -> bool:
        return event in self._events_of.get(conn, ())

    def subscriber_count(self, event: str) -> int:
        return len(self._subscribers.get(event, ()))

    # -- publishing --------------------------------------------------------

    def prepare(self, event: str, data: Any = None, *, created_at: str | None = None) -> Message:
        """Validate and encode a message without delivering it.

        Raises ProtocolError for a bad event name or data that is not strict
        JSON, so a batch can be checked whole before anyone receives any of it.
        """
        validate_event(event)
        return Message(event, encode_publish(event, data, created_at or utc_timestamp()))

    def publish_message(self, message: Message) -> None:
        """Deliver a prepared message here and relay it to other hubs."""
        self.published += 1
        self.deliver(message)
        if not self.broker.local_only:
            self.broker.publish(message)

    def publish(self, event: str, data: Any = None, *, created_at: str | None = None) -> Message:
        message = self.prepare(event, data, created_at=created_at)
        self.publish_message(message)
        return message

    def deliver(self, message: Message) -> int:
        """Hand ``message`` to every local subscriber of its event."""
        subscribers = self._subscribers.get(message.event)
        if not subscribers:
            return 0
        for conn in subscribers:
            conn.deliver(message)
        count = len(subscribers)
        self.delivered += count
        return count

    # -- info ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The ``/info`` document: subscriptions by event, then every connection."""
        clients = self._clients

        def describe(conn: Connection) -> dict[str, str]:
            name, address, since = clients.get(conn, ("", "", ""))
            return {"client_name": name, "ip_address": address, "connected_at": since}

        return {
            "subscriptions": [
                {"name": event, "connections": [describe(c) for c in subscribers]}
                for event, subscribers in self._subscribers.items()
            ],
            "all_connections": [describe(c) for c in clients],
            "created_at": utc_timestamp(),
        }
