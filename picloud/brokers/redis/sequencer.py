"""Numbering, keeping and retaining messages in Redis, in publish order.

While Redis is reachable, every message this hub accepts waits in ``queue``
until the PUBLISH script (scripts.py) has given it the cluster's seq and
epoch, kept it in the event's stream, retained it if asked, and relayed it;
the hub then splices the same stamp into its own copy and delivers it to its
own subscribers. Batches of script calls are pipelined on one connection, so
replies come back, and local delivery happens, in publish order.

Where this node is subscribed in Redis to the event (it has subscribers for
it), its own message is delivered when its PUBLISH comes back instead (the
node tag then carries an id: ``<node> <id>\n``): so messages published here
and those relayed from other hubs reach local subscribers in one stream, in
the cluster's seq order. If the connection is lost first, the stamped message
is delivered from the reply.

Reads that must be ordered with this hub's own publishes (catch-up, ``GET
/history``, ``GET /retained``) go through the same queue as FETCH calls.

While Redis is away (``active`` false), a message is stamped by the hub's own
History (its epoch differs from the cluster's, so a client resuming from it
is told it could not fully recover), delivered at once, and relayed as is
when Redis is back; it is not in the cluster's history.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ...exceptions import BrokerError
from ...hub.history import History, new_epoch
from ...hub.message import Message
from . import scripts
from .backlog import Backlog
from .mqtt_tag import tagged

log = logging.getLogger("picloud.broker")

BATCH = 256


@dataclass
class Fetched:
    """What a FETCH call read, atomically."""

    epoch: str
    last: int  # the event's last seq
    kept: list[tuple[int, int, bytes]] = field(default_factory=list)  # (seq, ms, frame)
    retained: dict[str, bytes] = field(default_factory=dict)  # event -> frame


class Fetch:
    __slots__ = ("args", "future")

    def __init__(self, args: tuple[Any, ...], future: asyncio.Future[Fetched]) -> None:
        self.args = args
        self.future = future


def parse_fetched(reply: list[Any]) -> Fetched:
    epoch, last, kept, retained = reply
    entries = []
    for entry_id, fields in kept:
        values = dict(zip(fields[::2], fields[1::2]))
        seq = int(entry_id.split(b"-", 1)[0])
        entries.append((seq, int(values.get(b"t", 0)), values.get(b"p", b"{}")))
    return Fetched(
        epoch.decode(), int(last), entries,
        {retained[i].decode(errors="replace"): retained[i + 1] for i in range(0, len(retained), 2)},
    )


class Sequencer:
    def __init__(self, prefix: str, tag: bytes, channel_prefix: bytes, control: bytes, backlog: Backlog) -> None:
        self.prefix = prefix
        self._tag = tag
        self._channel_prefix = channel_prefix
        self._control = control
        self._backlog = backlog
        self._seq_key = f"{prefix}:seq"
        self._epoch_key = f"{prefix}:epoch"
        self.retained_key = f"{prefix}:retained"
        self._stream_prefix = f"{prefix}:hist:"
        self._new_epoch = new_epoch()
        self.queue: collections.deque[Message | Fetch] = collections.deque()
        self._inflight: list[Message | Fetch] = []
        self.active = False
        self.epoch: str | None = None  # the cluster's, as last seen
        self.history: History | None = None  # the local fallback, set by bind
        self.deliver: Callable[[Message], object] = lambda message: None
        self.wake: Callable[[], None] = lambda: None
        self.echoing: Callable[[str], bool] = lambda event: False
        self._node = tag[:-1]
        self._ids = 0
        self._echoes: dict[bytes, Message] = {}  # id -> own message whose PUBLISH has not come back
        self._shas: tuple[str, str] | None = None
        self._retain_sent = 0
        self._retain_done = 0
        self._store_waiters: list[tuple[int, asyncio.Future[None]]] = []

    def keys(self, event: str) -> tuple[str, str, str, str]:
        return self._seq_key, self._epoch_key, self._stream_prefix + event, self.retained_key

    # -- publishing ------------------------------------------------------------

    def publish(self, message: Message) -> None:
        if self.active:
            if message.retain:
                self._retain_sent += 1
            self.queue.append(message)
            self.wake()
        else:
            if self.queue or self._inflight:  # keep publish order
                self.fail_pending()
            self.fallback(message)

    def fallback(self, message: Message) -> None:
        """Stamp locally, deliver here, and queue the relay for later."""
        assert self.history is not None
        self.history.stamp(message)
        self.deliver(message)
        retain = None
        if message.retain:
            retain = (message.event.encode(), None if message.clears else message.payload)
        self._backlog.append((self._channel_prefix + message.event.encode(),
                              tagged(self._tag, message) + message.payload, retain))
        self.wake()

    def fail_pending(self) -> None:
        """Redis went away: deliver what waited for it with local stamps, in order."""
        self.active = False
        items, self._inflight = self._inflight + list(self.queue), []
        self.queue.clear()
        echoes, self._echoes = self._echoes, {}
        for message in echoes.values():
            if message.seq:  # in Redis, relayed, but not back here: deliver from the reply
                self.deliver(message)
        for item in items:
            if isinstance(item, Fetch):
                if not item.future.done():
                    item.future.set_exception(BrokerError("redis became unreachable"))
            elif not item.seq:  # a seq here means it came back through Redis: delivered
                self.fallback(item)
        self._retain_done = self._retain_sent
        self._fail_store_waiters("redis is unreachable")

    # -- one connected session ---------------------------------------------------

    async def load(self, client: Any) -> None:
        # A Redis that comes back empty needs an epoch no client has seen.
        self._new_epoch = new_epoch()
        self._shas = (await client.script_load(scripts.PUBLISH), await client.script_load(scripts.FETCH))

    async def run_batch(self, client: Any) -> None:
        """Send up to BATCH queued calls in one round trip and act on the replies."""
        assert self._shas is not None and self.history is not None
        publish_sha, fetch_sha = self._shas
        queue = self.queue
        batch = self._inflight = [queue.popleft() for _ in range(min(len(queue), BATCH))]
        size = self.history.size
        ttl = int((self.history.ttl or 0) * 1000)
        now = b"%d" % int(time.time() * 1000)
        pipe = client.pipeline(transaction=False)
        echo_ids: list[bytes | None] = []
        echoing = self.echoing
        for item in batch:
            if isinstance(item, Fetch):
                pipe.evalsha(fetch_sha, 4, *item.args, self._new_epoch)
                echo_ids.append(None)
                continue
            event = item.event
            tag = self._tag
            echo_id = None
            if echoing(event):
                self._ids += 1
                echo_id = b"%d" % self._ids
                tag = b"%s %s\n" % (self._node, echo_id)
                self._echoes[echo_id] = item
            if item.raw is not None or item.qos:
                tag = tagged(tag, item)  # an MQTT publisher's: its bytes and QoS go along
            echo_ids.append(echo_id)
            retain = (b"2" if item.clears else b"1") if item.retain else b"0"
            pipe.evalsha(
                publish_sha, 4, *self.keys(event), event, item.payload, self._channel_prefix + event.encode(),
                tag, size, now, ttl, retain, self._new_epoch,
            )
        results = await pipe.execute(raise_on_error=False)
        self._inflight = []
        deliver = self.deliver
        echoes = self._echoes
        for item, result, echo_id in zip(batch, results, echo_ids):
            if isinstance(item, Fetch):
                if isinstance(result, Exception):
                    item.future.set_exception(BrokerError(f"redis refused a read: {result}".lower()))
                elif not item.future.done():
                    try:
                        item.future.set_result(parse_fetched(result))
                    except (ValueError, TypeError, AttributeError) as exc:
                        item.future.set_exception(BrokerError(f"unreadable answer from redis: {exc}".lower()))
                continue
            if isinstance(result, Exception):
                if echo_id is not None:
                    echoes.pop(echo_id, None)
                log.error("redis refused message on %r: %s", item.event, result)
                if item.retain:
                    self._fail_store_waiters(f"redis refused it: {result}".lower())
                self.fallback(item)
                continue
            seq, epoch = result
            item.seq = seq
            item.payload = scripts.splice(item.payload, seq, epoch)
            self.epoch = epoch.decode()
            if echo_id is None:
                deliver(item)
            elif not echoing(item.event) and echoes.pop(echo_id, None) is not None:
                deliver(item)  # unsubscribed in Redis meanwhile: it may never come back
            if item.retain:
                self._retain_done += 1
        if self._store_waiters:
            self._wake_store_waiters()

    def echo(self, echo_id: bytes, frame: bytes) -> None:
        """This node's own message came back through Redis: deliver it now."""
        message = self._echoes.pop(echo_id, None)
        if message is None:
            return  # delivered already (a second subscription, or a lost session)
        message.seq = scripts.stamp_of(frame)[0] or -1  # Redis has it: never a fallback
        echoed = Message(message.event, frame)
        # What an MQTT publisher's message carries beyond its frame (its bytes,
        # QoS, the bridge that sent it, its RETAIN) stays on this hub's copy.
        echoed.raw, echoed.qos, echoed.origin = message.raw, message.qos, message.origin
        echoed.retain, echoed.clears = message.retain, message.clears
        self.deliver(echoed)

    # -- reads -------------------------------------------------------------------

    async def fetch(self, event: str, history: bool, retained: int, marker: bytes = b"") -> Fetched:
        """Read an event's epoch, last seq, kept messages and retained value(s)
        (``retained``: 0 none, 1 the event's, 2 all), after this hub's earlier publishes."""
        if not self.active:
            raise BrokerError("redis is unreachable")
        future = asyncio.get_running_loop().create_future()
        args = (*self.keys(event), event, b"1" if history else b"0", b"%d" % retained, self._control, marker)
        self.queue.append(Fetch(args, future))
        self.wake()
        fetched = await future
        self.epoch = fetched.epoch
        return fetched

    # -- acknowledgements of retained publishes ------------------------------------

    def stored(self) -> asyncio.Future[None]:
        waiter = asyncio.get_running_loop().create_future()
        if not self.active:
            waiter.set_exception(OSError("cannot store retained value: redis is unreachable"))
        elif self._retain_done >= self._retain_sent:
            waiter.set_result(None)
        else:
            self._store_waiters.append((self._retain_sent, waiter))
        return waiter

    def _wake_store_waiters(self) -> None:
        done = self._retain_done
        waiting = []
        for target, waiter in self._store_waiters:
            if target <= done:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._store_waiters = waiting

    def _fail_store_waiters(self, reason: str) -> None:
        waiters, self._store_waiters = self._store_waiters, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(OSError(f"cannot store retained value: {reason}"))
