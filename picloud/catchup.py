"""Subscribing with the Redis broker: the catch-up is read from Redis.

The subscription starts at once, but a stand-in receives its messages while
the retained value(s), or with ``since`` the kept messages, are read from
Redis (brokers/redis.py, ``catch_up``: the read comes after every message
published before it has reached this hub). Then the client gets the
confirmation, the catch-up, and what the stand-in collected minus what the
catch-up already covered (same epoch, seq not above it), and the subscription
goes live: no gap, no duplicate.

If Redis cannot be read (it is away, or too slow), a ``since`` is answered as
not recovered, with what this hub kept while Redis was away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from .brokers.scripts import stamp_of
from .protocol2 import SubscribeRequest, encode_reply
from .retained import retained_variant
from .topics import is_filter, matches

if TYPE_CHECKING:
    from .brokers.sequencer import Fetched
    from .pubsub import Message, PubSub

log = logging.getLogger("picloud.catchup")


class StandIn:
    """Takes a connection's place in one event's subscribers, collecting."""

    __slots__ = ("buffer", "conn")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.buffer: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.buffer.append(message)

    # Equal to the connection it stands in for, so that unsubscribing the
    # connection, and /info, find it.
    def __hash__(self) -> int:
        return hash(self.conn)

    def __eq__(self, other: object) -> bool:
        return other is self.conn or other is self


_running: set[asyncio.Future] = set()


def subscribe(pubsub: PubSub, conn: Any, request: SubscribeRequest, reply: Callable[[bytes], Any] | None) -> None:
    """The Redis-broker counterpart of the subscribe branch of handle_request."""
    event = request.event
    assert event is not None
    stand_in = StandIn(conn)
    if not pubsub.subscribe(conn, event, stand_in):
        if reply is not None:
            reply(encode_reply("subscribed", event=event, id=request.id, already=True))
        return
    task = asyncio.ensure_future(_catch_up(pubsub, conn, request, reply, stand_in))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _catch_up(
    pubsub: PubSub, conn: Any, request: SubscribeRequest, reply: Callable[[bytes], Any] | None, stand_in: StandIn
) -> None:
    event = request.event or ""
    wildcard = is_filter(event)
    fetched = None
    try:
        fetched = await pubsub.broker.catch_up(  # type: ignore[attr-defined]
            event, request.since is not None, 2 if wildcard else 1
        )
    except Exception as exc:  # BrokerError, a timeout, or redis-py's when Redis went away mid-read
        log.debug("no catch-up from redis for %r: %s", event, exc)
    # From here to go_live nothing awaits: no message can slip in between.
    if not pubsub.stands_in(conn, event, stand_in):
        return  # unsubscribed (or the connection closed) meanwhile
    try:
        flush(pubsub, conn, request, reply, stand_in, fetched)
    finally:
        pubsub.go_live(conn, event, stand_in)  # whatever happened, never leave a stand-in behind


def flush(
    pubsub: PubSub, conn: Any, request: SubscribeRequest, reply: Callable[[bytes], Any] | None,
    stand_in: StandIn, fetched: Fetched | None,
) -> None:
    """Confirm, send the catch-up, then what the stand-in collected that it did not cover."""
    event = request.event or ""
    fields: dict[str, Any] = {"event": event, "id": request.id}
    if fetched is None:
        messages, floors, recovered, epoch, last = local(pubsub, event, request.since)
    else:
        messages, floors, recovered, epoch, last = from_redis(pubsub, event, request.since, fetched)
    if not is_filter(event):
        fields.update(epoch=epoch, seq=last)
        if request.since is not None:
            fields["recovered"] = recovered
    if reply is not None:
        reply(encode_reply("subscribed", **fields))
    for message in messages:
        conn.deliver(message)
    for message in stand_in.buffer:
        seq, epoch_of = stamp_of(message.payload)
        if epoch_of == epoch and seq <= floors.get(message.event, 0):
            continue  # the catch-up had it
        conn.deliver(message)


def local(
    pubsub: PubSub, event: str, since: tuple[int, str] | None
) -> tuple[list[Message], dict[str, int], bool | None, str, int]:
    """Without Redis: what this hub kept while Redis was away; never recovered."""
    history = pubsub.history
    if since is None:
        return [], {}, None, history.epoch, history.last_seq(event)
    messages, _ = history.since(event, since[0], since[1])
    return messages, {}, False, history.epoch, history.last_seq(event)


def from_redis(
    pubsub: PubSub, event: str, since: tuple[int, str] | None, fetched: Fetched
) -> tuple[list[Message], dict[str, int], bool | None, str, int]:
    from .pubsub import Message

    epoch, last = fetched.epoch, fetched.last
    retained = []
    floors: dict[str, int] = {}
    wildcard = is_filter(event)
    for name, frame in fetched.retained.items():
        if wildcard and not matches(event, name):
            continue
        message = Message(name, frame)
        message.seq, its_epoch = stamp_of(frame)
        retained.append(retained_variant(message))
        if its_epoch == epoch:
            floors[name] = message.seq
    if since is None:
        return retained, floors, None, epoch, last
    kept = live_entries(fetched, pubsub.history.ttl)
    seq, their_epoch = since
    if their_epoch != epoch or seq > last:
        replay, recovered = kept, False
    else:
        replay = [entry for entry in kept if entry[0] > seq]
        recovered = seq == last or bool(replay and replay[0][0] == seq + 1)
    messages = []
    for entry_seq, _, frame in replay:
        message = Message(event, frame)
        message.seq = entry_seq
        messages.append(message)
    if not recovered:
        messages = retained + messages
    return messages, {event: last}, recovered, epoch, last


def live_entries(fetched: Fetched, ttl: float | None) -> list[tuple[int, int, bytes]]:
    if not ttl:
        return fetched.kept
    oldest = (time.time() - ttl) * 1000
    return [entry for entry in fetched.kept if entry[1] >= oldest]
