"""Who is connected, who is subscribed to what, and fan-out to them.

Exact event names are a dict lookup; wildcard filters live in a TopicTree
consulted only while some exist. A connection matched by several of its
subscriptions gets a message once.
"""

from __future__ import annotations

from typing import Any, Callable

from ..wire.codec import utc_timestamp
from ..wire.topics import TopicTree, is_filter, validate_filter
from .catchup import StandIn
from .message import Connection, Message


class Subscriptions:
    def __init__(self, interest: Callable[[str, bool], None]) -> None:
        # Told of an event's first subscriber here and of its last one leaving.
        self._interest = interest
        # Wildcard filters, mapped to the same subscriber dicts as _subscribers.
        self._filters = TopicTree()
        # Insertion-ordered dicts used as sets: info lists in connect order.
        self._clients: dict[Connection, tuple[str, str, str]] = {}
        self._subscribers: dict[str, dict[Connection, None]] = {}
        self._events_of: dict[Connection, dict[str, None]] = {}
        self.delivered = 0
        self.subscriptions = 0  # (connection, event) pairs, all connections
        # Payload bytes, counted once per message (the subscribers share one frame).
        self.delivered_bytes = 0
        # (connection, event) -> the stand-in receiving for it during a catch-up (hub/catchup.py)
        self._stand_ins: dict[tuple[Connection, str], StandIn] = {}

    # -- connections -------------------------------------------------------

    def connect(self, conn: Connection, client_name: str, ip_address: str) -> None:
        """Register a ``/subscribe`` or ``/publish`` connection (listed in info)."""
        self._clients[conn] = (client_name, ip_address, utc_timestamp())

    def disconnect(self, conn: Connection) -> str | None:
        """Forget everything about ``conn``; safe to call more than once.
        Returns its client name the first time."""
        self.unsubscribe_all(conn)
        client = self._clients.pop(conn, None)
        return None if client is None else client[0]

    @property
    def connection_count(self) -> int:
        return len(self._clients)

    # -- subscriptions -----------------------------------------------------

    def subscribe(self, conn: Connection, event: str, stand_in: StandIn | None = None) -> bool:
        """Subscribe ``conn`` to ``event`` (a name or a wildcard filter); False
        if it already was. Raises ProtocolError for a malformed filter.

        With ``stand_in`` (equal to ``conn`` and hashing like it), messages go
        to the stand-in until ``go_live``."""
        wildcard = is_filter(event)
        if wildcard:
            validate_filter(event)
        events = self._events_of.setdefault(conn, {})
        if event in events:
            return False
        events[event] = None
        self.subscriptions += 1
        subscribers = self._subscribers.get(event)
        if subscribers is None:
            subscribers = self._subscribers[event] = {}
            if wildcard:
                self._filters.add(event, subscribers)
            # A wildcard filter is passed as given: the broker subscribes broadly.
            self._interest(event, True)
        if stand_in is not None:
            self._stand_ins[conn, event] = stand_in
            subscribers[stand_in] = None
        else:
            subscribers[conn] = None
        return True

    def stands_in(self, conn: Connection, event: str, stand_in: StandIn) -> bool:
        return self._stand_ins.get((conn, event)) is stand_in

    def go_live(self, conn: Connection, event: str, stand_in: StandIn) -> bool:
        """Deliver ``event`` to ``conn`` itself from now on; False if ``conn``
        unsubscribed from it (or subscribed again) since ``stand_in`` took over."""
        if self._stand_ins.get((conn, event)) is not stand_in:
            return False
        del self._stand_ins[conn, event]
        subscribers = self._subscribers[event]
        del subscribers[conn]  # removes the stand-in, which equals conn
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
        self.subscriptions -= 1
        if self._stand_ins:
            self._stand_ins.pop((conn, event), None)
        subscribers = self._subscribers[event]
        del subscribers[conn]
        if not subscribers:
            del self._subscribers[event]
            if is_filter(event):
                self._filters.remove(event)
            self._interest(event, False)

    @property
    def subscribed_events(self) -> int:
        """Events (and filters) with at least one subscriber here."""
        return len(self._subscribers)

    def subscription_count(self, conn: Connection) -> int:
        return len(self._events_of.get(conn, ()))

    def is_subscribed(self, conn: Connection, event: str) -> bool:
        return event in self._events_of.get(conn, ())

    def subscriber_count(self, event: str) -> int:
        return len(self._subscribers.get(event, ()))

    def deliver(self, message: Message) -> int:
        """Hand ``message`` to every local subscriber of its event, once each
        however many of its subscriptions match."""
        subscribers = self._subscribers.get(message.event)
        if self._filters.count:
            found = self._filters.match(message.event)
            if found:
                if len(found) == 1 and not subscribers:
                    subscribers = found[0]
                else:  # a connection matched twice still gets it once
                    merged = dict(subscribers) if subscribers else {}
                    for group in found:
                        merged.update(group)
                    subscribers = merged
        if not subscribers:
            return 0
        for conn in subscribers:
            conn.deliver(message)
        count = len(subscribers)
        self.delivered += count
        self.delivered_bytes += count * len(message.payload)
        return count

    # -- info ----------------------------------------------------------------

    def local_info(self) -> dict[str, Any]:
        """This hub's subscriptions and connections, fresh dicts on every call."""
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
        }
