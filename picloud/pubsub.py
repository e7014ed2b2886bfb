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
from .history import History
from .presence import Presence
from .protocol import encode_publish, utc_timestamp, validate_event
from .retained import RetainedStore
from .topics import TopicTree, check_publishable, is_filter, validate_filter


class Message:
    """One published message, encoded once and shared by every subscriber."""

    __slots__ = ("_frame", "clears", "event", "payload", "retain", "seq")

    def __init__(self, event: str, payload: bytes) -> None:
        self.event = event
        self.payload = payload  # the JSON publish frame, UTF-8
        self._frame: bytes | None = None
        self.seq = 0  # set by History.stamp when the hub accepts it
        self.retain = False  # also becomes the event's retained value...
        self.clears = False  # ...or clears it (retain with data null)

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
    def __init__(
        self,
        broker: Broker | None = None,
        history: History | None = None,
        retained: RetainedStore | None = None,
    ) -> None:
        self.broker: Broker = broker if broker is not None else MemoryBroker()
        self.history = history if history is not None else History()
        self.retained = retained if retained is not None else RetainedStore()
        # Wildcard filters, mapped to the same subscriber dicts as _subscribers.
        self._filters = TopicTree()
        # Insertion-ordered dicts used as sets: info lists in connect order.
        self._clients: dict[Connection, tuple[str, str, str]] = {}
        self._subscribers: dict[str, dict[Connection, None]] = {}
        self._events_of: dict[Connection, dict[str, None]] = {}
        self.published = 0
        self.delivered = 0
        # Payload bytes, counted once per message (the subscribers share one frame).
        self.published_bytes = 0
        self.delivered_bytes = 0
        # (connection, event) -> the stand-in receiving for it during a catch-up (see catchup.py)
        self._stand_ins: dict[tuple[Connection, str], Connection] = {}
        self.presence = Presence(self)
        if not self.broker.local_only:
            self.broker.bind(self)

    # -- connections -------------------------------------------------------

    def connect(self, conn: Connection, client_name: str, ip_address: str) -> None:
        """Register a ``/subscribe`` or ``/publish`` connection (listed in info)."""
        self._clients[conn] = (client_name, ip_address, utc_timestamp())
        self.presence.joined(client_name)

    def disconnect(self, conn: Connection) -> None:
        """Forget everything about ``conn``; safe to call more than once."""
        self.unsubscribe_all(conn)
        client = self._clients.pop(conn, None)
        if client is not None:
            self.presence.left(client[0])

    @property
    def connection_count(self) -> int:
        return len(self._clients)

    # -- subscriptions -----------------------------------------------------

    def subscribe(self, conn: Connection, event: str, stand_in: Connection | None = None) -> bool:
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
        subscribers = self._subscribers.get(event)
        if subscribers is None:
            subscribers = self._subscribers[event] = {}
            if wildcard:
                self._filters.add(event, subscribers)
            # A wildcard filter is passed as given: the broker subscribes broadly.
            self.broker.interest(event, True)
        if stand_in is not None:
            self._stand_ins[conn, event] = stand_in
            subscribers[stand_in] = None
        else:
            subscribers[conn] = None
        return True

    def stands_in(self, conn: Connection, event: str, stand_in: Connection) -> bool:
        return self._stand_ins.get((conn, event)) is stand_in

    def go_live(self, conn: Connection, event: str, stand_in: Connection) -> bool:
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
        if self._stand_ins:
            self._stand_ins.pop((conn, event), None)
        subscribers = self._subscribers[event]
        del subscribers[conn]
        if not subscribers:
            del self._subscribers[event]
            if is_filter(event):
                self._filters.remove(event)
            self.broker.interest(event, False)

    def subscription_count(self, conn: Connection) -> int:
        return len(self._events_of.get(conn, ()))

    def is_subscribed(self, conn: Connection, event: str) -> bool:
        return event in self._events_of.get(conn, ())

    def subscriber_count(self, event: str) -> int:
        return len(self._subscribers.get(event, ()))

    # -- publishing --------------------------------------------------------

    def prepare(
        self, event: str, data: Any = None, *, created_at: str | None = None, retain: bool = False
    ) -> Message:
        """Validate and encode a message without delivering it.

        Raises ProtocolError for a bad event name or data that is not strict
        JSON, so a batch can be checked whole before anyone receives any of it.
        """
        validate_event(event)
        if "+" in event or "#" in event or event[0] == "$":  # inlined: the common name skips a call
            check_publishable(event)
        message = Message(event, encode_publish(event, data, created_at))
        if retain:
            message.retain = True
            message.clears = data is None
        return message

    def publish_message(self, message: Message) -> None:
        """Deliver a prepared message here and relay it to other hubs."""
        # seq is given on acceptance, not in prepare(), so a batch refused
        # half-way leaves no gap in any event's sequence.
        if self.broker.local_only:
            self.accept(message)
            self.published += 1
            self.published_bytes += len(message.payload)
            self.deliver(message)
        else:
            # Redis gives the seq, keeps and retains it; the broker delivers
            # it here once it has (see brokers/sequencer.py).
            self.published += 1
            self.published_bytes += len(message.payload)
            self.broker.publish(message)

    def accept(self, message: Message) -> None:
        """Give ``message`` its seq (and keep it), and retain it if asked.

        The hub's own ``$SYS/`` messages (presence) go through this and
        ``deliver`` only, so they do not count as published by clients.
        """
        if not message.event.startswith("$SYS/"):
            # The hub's own state (presence) is retained, not a stream to
            # catch up on: numbering it would keep a counter per client name.
            self.history.stamp(message)
        if message.retain:
            self.retained.update(message, message.clears)

    def publish(
        self, event: str, data: Any = None, *, created_at: str | None = None, retain: bool = False
    ) -> Message:
        message = self.prepare(event, data, created_at=created_at, retain=retain)
        self.publish_message(message)
        return message

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

    def join(
        self, conn: Connection, event: str, since: tuple[int, str] | None = None
    ) -> tuple[list[Message], bool | None] | None:
        """Subscribe and return what ``conn`` must receive before live messages.

        That is the retained value(s), or with ``since`` (``(seq, epoch)``,
        exact names only) the kept messages after it, plus whether nothing
        was lost (None without ``since``). When recovery fails, the retained
        value comes first, then what is kept. None if already subscribed.
        The caller sends them before returning to the event loop, so no
        publish can fall between the catch-up and live delivery.
        """
        if not self.subscribe(conn, event):
            return None
        if since is None:
            return list(self.retained.items(event)), None
        replay, recovered = self.history.since(event, since[0], since[1])
        if not recovered:
            retained = self.retained.get(event)
            if retained is not None:
                replay.insert(0, retained)
        return replay, recovered

    # -- info ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The ``/info`` document: subscriptions by event, then every connection."""
        info = self.local_info()
        if not self.broker.local_only:
            info = self.broker.cluster_info(info)
        info["created_at"] = utc_timestamp()
        return info

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
