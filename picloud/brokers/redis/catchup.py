"""Subscribing with the Redis broker: the catch-up is read from Redis.

The subscription starts at once, but a stand-in receives its messages while
the retained value(s), or with ``since`` the kept messages, are read from
Redis (``RedisBroker.catch_up``: the read comes after every message
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
from collections.abc import Awaitable
from typing import Callable

from ...hub.broker import Confirm, Hub
from ...hub.catchup import Joined, StandIn
from ...hub.history import nothing_lost
from ...hub.message import Connection, Message
from ...hub.retained import retained_variant
from ...wire.topics import is_filter, matches
from .scripts import stamp_of
from .sequencer import Fetched

log = logging.getLogger("picloud.catchup")

#: Reads an event's catch-up from Redis: (event, with history, which retained values).
CatchUpRead = Callable[[str, bool, int], Awaitable[Fetched]]


_running: set[asyncio.Future[None]] = set()


def join(
    hub: Hub, read: CatchUpRead, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm
) -> None:
    """``Broker.join`` with Redis: subscribed at once, caught up once Redis answered."""
    stand_in = StandIn(conn)
    if not hub.subscribe(conn, event, stand_in):
        confirm(Joined(event, already=True))
        return
    task = asyncio.ensure_future(_catch_up(hub, read, conn, event, since, confirm, stand_in))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _catch_up(
    hub: Hub, read: CatchUpRead, conn: Connection, event: str, since: tuple[int, str] | None,
    confirm: Confirm, stand_in: StandIn,
) -> None:
    fetched = None
    try:
        fetched = await read(event, since is not None, 2 if is_filter(event) else 1)
    except Exception as exc:  # BrokerError, a timeout, or redis-py's when Redis went away mid-read
        log.debug("no catch-up from redis for %r: %s", event, exc)
    # From here to go_live nothing awaits: no message can slip in between.
    if not hub.stands_in(conn, event, stand_in):
        return  # unsubscribed (or the connection closed) meanwhile
    try:
        flush(hub, conn, event, since, confirm, stand_in, fetched)
    finally:
        hub.go_live(conn, event, stand_in)  # whatever happened, never leave a stand-in behind


def flush(
    hub: Hub, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm,
    stand_in: StandIn, fetched: Fetched | None,
) -> None:
    """Confirm, send the catch-up, then what the stand-in collected that it did not cover."""
    if fetched is None:
        messages, floors, recovered, epoch, last = local(hub, event, since)
    else:
        messages, floors, recovered, epoch, last = from_redis(hub, event, since, fetched)
    if is_filter(event):
        confirm(Joined(event))
    else:
        confirm(Joined(event, epoch=epoch, seq=last, recovered=recovered))
    for message in messages:
        conn.deliver(message)
    for message in stand_in.buffer:
        seq, epoch_of = stamp_of(message.payload)
        if epoch_of == epoch and seq <= floors.get(message.event, 0):
            continue  # the catch-up had it
        conn.deliver(message)


def local(
    hub: Hub, event: str, since: tuple[int, str] | None
) -> tuple[list[Message], dict[str, int], bool | None, str, int]:
    """Without Redis: what this hub kept while Redis was away; never recovered."""
    history = hub.history
    if since is None:
        return [], {}, None, history.epoch, history.last_seq(event)
    messages, _ = history.since(event, since[0], since[1])
    return messages, {}, False, history.epoch, history.last_seq(event)


def from_redis(
    hub: Hub, event: str, since: tuple[int, str] | None, fetched: Fetched
) -> tuple[list[Message], dict[str, int], bool | None, str, int]:
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
    kept = live_entries(fetched, hub.history.ttl)
    seq, their_epoch = since
    if their_epoch != epoch or seq > last:
        replay, recovered = kept, False
    else:
        replay = [entry for entry in kept if entry[0] > seq]
        recovered = nothing_lost(seq, last, replay[0][0] if replay else None)
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
