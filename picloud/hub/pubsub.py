"""The hub: connections, subscriptions, the publish path and fan-out.

Every front end hands it what it parsed (a batch of publications, a
subscription) and registers its connections (``message.Connection``); it
knows nothing of Tornado, sockets or which broker it has. The broker decides
where messages are numbered, kept and retained (hub/broker.py); the hub
delivers to its own subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Union

from ..config import Config
from ..exceptions import ProtocolError
from ..wire.codec import encode_publish, stamp_now, utc_timestamp, validate_event
from ..wire.requests import Publication
from ..wire.scan import Encoded
from ..wire.topics import check_publishable
from .broker import Broker
from .history import History
from .joining import Joining
from .limits import batch_over_limit
from .message import Connection, Message, new_message
from .presence import Presence
from .retained import Retained
from .rights import Permissions
from .subscriptions import Subscriptions
from .topics import Topics

#: What a front end parsed of one request: its publications, or why it could not,
#: or what wire/scan.py's scan_publish found in a plain one (a tuple).
Batch = Union[Sequence[Publication], ProtocolError, Encoded]
#: What became of one: each message with its request ``id``, or why it was refused.
Outcome = Union[list[tuple[Message, Any]], ProtocolError]


class PubSub(Joining, Subscriptions):
    """The hub every front end shares (one per process)."""

    def __init__(
        self,
        broker: Broker,
        history: History | None = None,
        retained: Retained | None = None,
        *,
        max_batch: int = Config.max_batch.default,
        max_subscriptions: int = Config.max_subscriptions.default,
        max_total_subscriptions: int = Config.max_total_subscriptions.default,
        max_retained_value_bytes: int = Config.max_retained_value_bytes.default,
    ) -> None:
        super().__init__(broker.interest)
        self.broker = broker
        self.history = history if history is not None else History()
        self.retained = retained if retained is not None else Retained()
        self.max_batch = max_batch  # messages in one publish
        self.max_subscriptions = max_subscriptions  # per connection
        self.max_total_subscriptions = max_total_subscriptions  # all connections of this hub
        self.max_retained_value_bytes = max_retained_value_bytes
        self.published = 0
        # Payload bytes, counted once per message (the subscribers share one frame).
        self.published_bytes = 0
        self._broker_publish = broker.publish  # looked up once: it runs for every message
        self.topics = Topics()  # what GET /topics lists
        self.tracker = self.topics
        broker.bind(self)
        # Last: presence announces stale values at once, through the broker.
        self.presence = Presence(self.retained, broker)

    # -- connections -------------------------------------------------------

    def connect(self, conn: Connection, client_name: str, ip_address: str,
                details: dict[str, Any] | None = None) -> None:
        super().connect(conn, client_name, ip_address, details)
        self.presence.joined(client_name)

    def disconnect(self, conn: Connection) -> str | None:
        client_name = super().disconnect(conn)
        if client_name is not None:
            self.presence.left(client_name)
        return client_name

    def leave(self, conn: Connection) -> str | None:
        """``conn``'s client went away, its subscriptions stay (an MQTT
        persistent session): out of the listing, offline in presence."""
        client_name = self.unlist(conn)
        if client_name is not None:
            self.presence.left(client_name)
        return client_name

    # -- publishing --------------------------------------------------------

    def prepare(
        self, event: str, data: Any = None, *, created_at: str | None = None, retain: bool = False,
        stamp: bytes | None = None,
    ) -> Message:
        """Validate and encode a message without delivering it.

        Raises ProtocolError for a bad event name or data that is not strict
        JSON, so a batch can be checked whole before anyone receives any of it.
        """
        validate_event(event)
        if "+" in event or "#" in event or event[0] == "$":  # inlined: the common name skips a call
            check_publishable(event)
        message = new_message(event, encode_publish(event, data, created_at, stamp))
        if retain:
            message.retain = True
            message.clears = data is None
        return message

    def publish_message(self, message: Message) -> None:
        """Publish a prepared message: numbered, kept, retained and delivered
        wherever the broker does it (here, or once Redis has it)."""
        # seq is given on acceptance, not in prepare(), so a batch refused
        # half-way leaves no gap in any event's sequence.
        if message.retain:
            self._check_retained_size(message)
        self._broker_publish(message)
        self.published += 1
        # After: on a single hub the payload now carries its seq and epoch.
        self.published_bytes += len(message.payload)

    def publish_messages(self, messages: Sequence[Message]) -> None:
        """``publish_message`` each of ``messages`` (one read's) in one pass
        through the broker (``Broker.publish_many``)."""
        for message in messages:
            if message.retain:
                self._check_retained_size(message)
        self.broker.publish_many(messages)
        self.published += len(messages)
        self.published_bytes += sum([len(message.payload) for message in messages])

    def _check_retained_size(self, message: Message) -> None:
        if not message.clears and len(message.payload) > self.max_retained_value_bytes:
            # Here, not in a store: Redis keeps retained values too.
            message.retain = False
            self.retained.refuse(message, f"retained value over {self.max_retained_value_bytes} bytes: "
                                          "delivered, not retained")

    def publish_batch(
        self, items: Sequence[Publication], permissions: Permissions | None = None
    ) -> list[tuple[Message, Any]]:
        """Publish what a front end parsed: one message or a batch, all or
        nothing, within the publisher's ``permissions`` (None: no limits).
        Returns each message with its request ``id``."""
        messages = self._prepare_batch(items, permissions)
        publish = self.publish_message
        for message, _ in messages:
            publish(message)
        return messages

    def publish_each(
        self, batches: Sequence[Batch], permissions: Permissions | None = None, *, answered_only: bool = False,
        stamp: bytes | None = None,
    ) -> list[Outcome]:
        """Publish batches that stand on their own (the frames of one read):
        each all or nothing, in order, in one pass. A batch that failed to
        parse is given as its ProtocolError; each outcome is what
        ``publish_batch`` returns, or the error it raises. With
        ``answered_only`` the outcomes leave out the plain messages without
        an ``id`` that were not asked to be retained: nothing answers those.
        ``stamp`` (``stamp_now``, now if None) is the read's ``created_at``,
        which the scanned ones (``Encoded``) carry already."""
        outcomes: list[Outcome] = []
        ready: list[Message] = []
        prepare = self._prepare_batch
        if stamp is None:
            stamp = stamp_now()  # once: the messages of one read arrived together
        for items in batches:
            if type(items) is tuple:  # Encoded: one plain message, its frame made by wire/scan.py
                event, frame, retain, request_id, clears = items
                if permissions is not None and not permissions.may_use(event):
                    refused = permissions.refuse("publish to", event)
                    refused.id = request_id
                    outcomes.append(refused)
                    continue
                message = new_message(event, frame)
                ready.append(message)
                if retain:
                    message.retain = True
                    message.clears = clears
                elif answered_only and request_id is None:
                    continue
                outcomes.append([(message, request_id)])
                continue
            if isinstance(items, ProtocolError):
                outcomes.append(items)
                continue
            try:
                messages = prepare(items, permissions, stamp)  # type: ignore[arg-type]  # not Encoded: a tuple
            except ProtocolError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(messages)
            ready += [message for message, _ in messages]
        if len(ready) == 1:
            self.publish_message(ready[0])
        elif ready:
            self.publish_messages(ready)
        return outcomes

    def publish_parts(self, parts: Encoded, permissions: Permissions | None = None) -> list[tuple[Message, Any]]:
        """``publish_batch`` of what wire/scan.py found in one plain frame."""
        (outcome,) = self.publish_each([parts], permissions)
        if isinstance(outcome, ProtocolError):
            raise outcome
        return outcome

    def _prepare_batch(
        self, items: Sequence[Publication], permissions: Permissions | None, stamp: bytes | None = None
    ) -> list[tuple[Message, Any]]:
        count = len(items)
        if count > self.max_batch:
            raise batch_over_limit(count, self.max_batch)
        prepare = self.prepare
        messages = []
        for index, item in enumerate(items):
            try:
                messages.append((prepare(item.event, item.data, retain=item.retain, stamp=stamp), item.id))
                if permissions is not None:
                    permissions.check_publish(item.event)
            except ProtocolError as exc:
                if count == 1:
                    exc.id = item.id
                    raise
                kind = type(exc)  # a Forbidden stays one (HTTP answers 403)
                raise kind(f"batch element {index}: {exc}", index=index, id=item.id) from None
        return messages

    def stored(self) -> asyncio.Future[None]:
        """Resolves once the retained values published so far are kept for
        good (an ack of a retained publish waits for it)."""
        return self.broker.stored()

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

    def accept_runs(self, event_runs: Sequence[Sequence[Message]]) -> None:
        """``accept`` each message of one read, cut into runs of one event
        (``message.runs``), in order (``Broker.publish_many``)."""
        stamp_run = self.history.stamp_run
        for run in event_runs:
            if len(run) == 1 or run[0].event.startswith("$SYS/"):
                for message in run:
                    self.accept(message)
                continue
            stamp_run(run)
            for message in run:
                if message.retain:
                    self.retained.update(message, message.clears)

    def publish(
        self, event: str, data: Any = None, *, created_at: str | None = None, retain: bool = False
    ) -> Message:
        message = self.prepare(event, data, created_at=created_at, retain=retain)
        self.publish_message(message)
        return message

    # -- info ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The ``/info`` document: subscriptions by event, then every connection."""
        info = self.broker.cluster_info(self.local_info())
        info["created_at"] = utc_timestamp()
        return info

