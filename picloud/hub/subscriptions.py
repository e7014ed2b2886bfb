"""Who is connected, who is subscribed to what, and fan-out to them.

Exact event names are a dict lookup; wildcard filters live in a TopicTree
consulted only while some exist. A connection matched by several of its
subscriptions gets a message once.
"""

from __future__ import annotations

from itertools import count
from typing import Any, Callable

from ..wire.codec import utc_timestamp
from ..wire.topics import TopicTree, is_filter, validate_filter
from .catchup import StandIn
from .fanout import Fanout, Records, Tracks
from .message import Connection


class Subscriptions(Fanout):
    def __init__(self, interest: Callable[[str, bool], None]) -> None:
        # Told of an event's first subscriber here and of its last one leaving.
        self._interest = interest
        # Wildcard filters, mapped to the same subscriber dicts as _subscribers.
        self._filters = TopicTree()
        # Insertion-ordered dicts used as sets: info lists in connect order.
        # A client is (name, address, connected at, listing id).
        self._clients: dict[Connection, tuple[str, str, str, str]] = {}
        # What a front end adds about some (MQTT: protocol, keepalive, clean session).
        self._details: dict[Connection, dict[str, Any]] = {}
        self._ids = count(1)
        # What changed since listing() last asked; None until it first does
        # (only a broker that shares the listing asks: hub/broker.py).
        self._changed: dict[Connection, None] | None = None
        self._gone: list[str] = []
        self._subscribers: dict[str, dict[Connection, None]] = {}
        self._events_of: dict[Connection, dict[str, None]] = {}
        self.delivered = 0
        self.subscriptions = 0  # (connection, event) pairs, all connections
        # Payload bytes, counted once per message (the subscribers share one frame).
        self.delivered_bytes = 0
        # (connection, event) -> the stand-in receiving for it during a catch-up (hub/catchup.py)
        self._stand_ins: dict[tuple[Connection, str], StandIn] = {}
        # Sees every message delivered here, before the subscribers (hub/recording.py).
        self.recorder: Records | None = None
        # Events and filters the broker is asked for whatever the subscribers (hold).
        self._held: set[str] = set()
        # Sees them too, for the topic tree (hub/topics.py).
        self.tracker: Tracks | None = None

    # -- connections -------------------------------------------------------

    def connect(self, conn: Connection, client_name: str, ip_address: str,
                details: dict[str, Any] | None = None) -> None:
        """Register a connection (listed in info), with ``details`` shown beside it."""
        self._clients[conn] = (client_name, ip_address, utc_timestamp(), str(next(self._ids)))
        if details:
            self._details[conn] = details
        if self._changed is not None:
            self._changed[conn] = None

    def disconnect(self, conn: Connection) -> str | None:
        """Forget everything about ``conn``; safe to call more than once.
        Returns its client name the first time."""
        self.unsubscribe_all(conn)
        return self.unlist(conn)

    def unlist(self, conn: Connection) -> str | None:
        """Take ``conn`` out of the listing but keep its subscriptions (an MQTT
        session kept while its client is away). Returns its client name."""
        client = self._clients.pop(conn, None)
        if client is None:
            return None
        self._details.pop(conn, None)
        if self._changed is not None:
            self._changed.pop(conn, None)
            self._gone.append(client[3])
        return client[0]

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
        if self._changed is not None:
            self._changed[conn] = None
        subscribers = self._subscribers.get(event)
        if subscribers is None:
            subscribers = self._subscribers[event] = {}
            if wildcard:
                self._filters.add(event, subscribers)
            # A wildcard filter is passed as given: the broker subscribes broadly.
            if event not in self._held:
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
        if self._changed is not None:
            self._changed[conn] = None
        return True

    def unsubscribe_all(self, conn: Connection) -> int:
        events = self._events_of.pop(conn, None)
        if not events:
            return 0
        if self._changed is not None:
            self._changed[conn] = None
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
            if event not in self._held:
                self._interest(event, False)

    def hold(self, event: str) -> None:
        """Have the broker bring ``event`` (a name or filter) here whether or
        not anyone subscribes to it: what the recorder records, with Redis."""
        if is_filter(event):
            validate_filter(event)
        if event in self._held:
            return
        self._held.add(event)
        if event not in self._subscribers:
            self._interest(event, True)

    @property
    def subscribed_events(self) -> int:
        """Events (and filters) with at least one subscriber here."""
        return len(self._subscribers)

    def events_of(self, conn: Connection) -> list[str]:
        """What ``conn`` is subscribed to, names and filters, in subscribe order."""
        return list(self._events_of.get(conn, ()))

    def subscription_count(self, conn: Connection) -> int:
        return len(self._events_of.get(conn, ()))

    def is_subscribed(self, conn: Connection, event: str) -> bool:
        return event in self._events_of.get(conn, ())

    def subscriber_count(self, event: str) -> int:
        return len(self._subscribers.get(event, ()))

    # -- info ----------------------------------------------------------------

    def local_info(self) -> dict[str, Any]:
        """This hub's subscriptions and connections, fresh dicts on every call."""
        clients = self._clients
        details = self._details

        def describe(conn: Connection) -> dict[str, Any]:
            name, address, since, _ = clients.get(conn, ("", "", "", ""))
            described = {"client_name": name, "ip_address": address, "connected_at": since}
            if conn in details:
                described.update(details[conn])
            return described

        # A subscriber not listed is an MQTT session whose client is away.
        subscriptions = []
        for event, subscribers in self._subscribers.items():
            listed = [describe(c) for c in subscribers if c in clients]
            if listed:
                subscriptions.append({"name": event, "connections": listed})
        return {
            "subscriptions": subscriptions,
            "all_connections": [describe(c) for c in clients],
        }

    def listing(self, full: bool = False) -> dict[str, dict[str, Any] | None]:
        """This hub's connections as records by listing id, for other hubs'
        ``/info``: those that changed since the last call (None for those
        gone), or with ``full`` all of them. The first call starts the
        tracking, so a hub whose broker never asks pays nothing for it."""
        if full or self._changed is None:
            self._changed, self._gone = {}, []
            return {client[3]: self._record(conn, client) for conn, client in self._clients.items()}
        changed: dict[str, dict[str, Any] | None] = {}
        for conn in self._changed:
            client = self._clients.get(conn)
            if client is not None:
                changed[client[3]] = self._record(conn, client)
        changed.update(dict.fromkeys(self._gone))
        self._changed, self._gone = {}, []
        return changed

    def _record(self, conn: Connection, client: tuple[str, str, str, str]) -> dict[str, Any]:
        name, address, since, _ = client
        return {
            "client_name": name, "ip_address": address, "connected_at": since,
            "events": list(self._events_of.get(conn, ())), **self._details.get(conn, {}),
        }
