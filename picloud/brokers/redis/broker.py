"""Relaying through Redis, so that several hubs act as one.

Each hub (a *node*) PUBLISHes every message it accepts on the channel
``<prefix>:msg:<event>`` and SUBSCRIBEs only to the events its own clients
want. What travels is the node id, a newline, and the publish frame exactly as
the publishing node encoded it; a node skips its own messages, which it has
already delivered locally.

For the subscriptions, see channels.py; for what arrives on them,
inbound.py; for ``/info``, membership.py; for the outbox, backlog.py; for
seq, history and retained values in Redis, sequencer.py and scripts.py.

A subscription's catch-up (retained value, or replay with ``since``) is read
once Redis confirmed this node's SUBSCRIBE for the event, by a FETCH script
that also PUBLISHes a marker on the node's control channel: once the marker
arrives, every message published before the read has arrived too, so the
subscriber gets no gap and, after dropping what the read already had, no
duplicate (see catchup.py). ``GET /retained`` and ``GET /history`` read
Redis too (queries.py).

While Redis cannot be reached, local delivery goes on and messages for other
nodes wait in a bounded outbox. Back online, a node re-subscribes, registers
itself, waits (briefly) until the nodes it knew have registered again, which
they do only after re-subscribing, and then relays the backlog in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ...config import Config
from ...exceptions import BrokerError, ConfigError
from ...hub.broker import Broker, Confirm, Hub
from ...hub.history import Page
from ...hub.message import Connection, Message
from . import catchup
from .backlog import Backlog
from .channels import Channels
from .connection import COMMAND_TIMEOUT, RedisTarget, close_quietly
from .heartbeat import heartbeat
from .inbound import Inbound
from .membership import NODE_TTL, Membership, default_node_id
from .queries import answer_history, answer_retained
from .sequencer import Fetched, Sequencer

log = logging.getLogger("picloud.broker")

MAX_BACKOFF = 2.0
PEER_GRACE = NODE_TTL + MAX_BACKOFF  # longest wait for known nodes to re-subscribe
BATCH = 256  # messages per pipelined round trip
CATCH_UP_TIMEOUT = 5.0

T = TypeVar("T")


async def _until_cancelled(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for cancelled ``tasks`` to end, cancelling again any that carry on.

    redis-py (8.1) can return normally from a command that was cancelled
    mid-way (seen with a pub/sub UNSUBSCRIBE and a pipeline's execute while
    the machine was loaded); the task then loops on and waits for work that
    never comes, and the hub would never exit.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.1)
        for task in pending:
            task.cancel()
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: ends as it may, the session is over


class RedisBroker(Broker):
    keeps_retained = True  # the PUBLISH script writes them (scripts.py)
    sees_everything = False  # a hub subscribes to what its clients want (interest)
    _hub: Hub | None = None

    def __init__(
        self, url: str, *, prefix: str = Config.broker_prefix.default, outbox: int = Config.broker_outbox.default,
        outbox_bytes: int = Config.broker_outbox_bytes.default, node: str | None = None,
    ) -> None:
        self.redis = RedisTarget(url)  # first: without redis-py nothing else matters
        if not prefix:
            raise ConfigError("broker prefix must not be empty")
        if outbox < 1:
            raise ConfigError(f"broker outbox must be at least 1, not {outbox}")
        self.redis.check()
        self.safe_url = self.redis.safe_url
        self.node = node or default_node_id()
        self.prefix = prefix
        self.outbox_limit = outbox
        self._channels = Channels(prefix)
        self._control = f"{prefix}:ctl:{self.node}".encode()
        tag = self.node.encode() + b"\n"
        self._backlog = Backlog(outbox, outbox_bytes)
        self.sequencer = Sequencer(prefix, tag, self._channels.prefix, self._control, self._backlog)
        self.sequencer.wake = self._wake_writer
        self._confirmations = self._channels.confirmations
        self.sequencer.echoing = self._confirmations.covers
        self._inbound = Inbound(tag, self._channels, self._control, self.sequencer)
        self._members = Membership(prefix, self.node)
        self._wake = asyncio.Event()
        self._connected = False
        self._down_since: float | None = None
        self._supervisor: asyncio.Task[None] | None = None

    # -- the Broker interface ------------------------------------------------

    async def start(self) -> None:
        log.info("relaying through %s as node %s (prefix %r)", self.safe_url, self.node, self.prefix)
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.ensure_future(self._supervise(first))
        await first  # one attempt made: connected, or degraded and retrying

    async def stop(self) -> None:
        deadline = time.monotonic() + 1.0
        sequencer = self.sequencer
        while self._connected and (self._backlog or sequencer.queue) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # let the writer relay what it has
        if self._supervisor is not None:
            self._supervisor.cancel()
            await _until_cancelled([self._supervisor])
        left = len(self._backlog)
        if left:
            log.warning("%d messages for other hubs were not relayed before shutdown", left)
        if self._connected:  # leave /info at once instead of after the TTL
            client = self.redis.client()
            try:
                await asyncio.wait_for(self._members.leave(client), 1.0)
            except Exception:  # best effort: the TTL removes the key anyway
                pass
            finally:
                await close_quietly(client)
        self._connected = False
        self.sequencer.fail_pending()  # whatever is left is delivered here at least

    @property
    def dropped(self) -> int:
        """Messages for other hubs dropped because the outbox was full."""
        return self._backlog.dropped

    def bind(self, hub: Hub) -> None:
        self._hub = hub
        self.sequencer.history = hub.history
        self._inbound.deliver = self.sequencer.deliver = hub.deliver

    def _listing(self, full: bool) -> dict[str, dict[str, Any] | None]:
        """This hub's part of ``/info``, which the others show too (membership.py)."""
        return {} if self._hub is None else self._hub.listing(full)

    def publish(self, message: Message) -> None:
        self.sequencer.publish(message)

    def _wake_writer(self) -> None:
        self._wake.set()

    def stored(self) -> asyncio.Future[None]:
        return self.sequencer.stored()

    def join(self, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm) -> None:
        assert self._hub is not None, "bind() comes first"
        catchup.join(self._hub, self.catch_up, conn, event, since, confirm)

    async def retained_frames(
        self, event: str | None, allowed: Callable[[str], bool] | None = None
    ) -> list[bytes]:
        return await self._answer(answer_retained(self.fetch, event, allowed))

    async def history_page(self, event: str, since: int, limit: int, epoch: str | None) -> Page:
        ttl = None if self._hub is None else self._hub.history.ttl
        return await self._answer(answer_history(self.fetch, event, since, limit, epoch, ttl))

    async def _answer(self, read: Awaitable[T]) -> T:
        try:
            return await read
        except BrokerError:
            raise
        except Exception as exc:  # a timeout, or redis-py's
            raise BrokerError(self.redis.scrub(exc) if str(exc) else "redis did not answer in time") from None

    async def fetch(self, event: str, history: bool, retained: int) -> Fetched:
        """Read what Redis keeps about ``event`` (see Sequencer.fetch)."""
        return await asyncio.wait_for(self.sequencer.fetch(event, history, retained), COMMAND_TIMEOUT)

    async def catch_up(self, event: str, history: bool, retained: int) -> Fetched:
        """As fetch, once this node receives ``event`` from Redis, and
        returning only after every message published before the read arrived."""

        confirmations = self._confirmations
        if not self._connected:
            raise BrokerError("redis is unreachable")

        async def run() -> Fetched:
            await confirmations.ready(event)
            marker, arrived = confirmations.marker()
            try:
                fetched = await self.sequencer.fetch(event, history, retained, marker)
                await arrived
            finally:
                confirmations.forget(marker)
            return fetched

        return await asyncio.wait_for(run(), CATCH_UP_TIMEOUT)

    def elsewhere(self, client_name: str) -> bool:
        """Whether another live hub holds a connection of ``client_name``."""
        return client_name in self._members.peer_names

    def interest(self, event: str, wanted: bool) -> None:
        self._channels.want(event, wanted)

    @property
    def state(self) -> str:
        # Until the outbox is relayed, new messages are still stamped here, not
        # in Redis: the cluster is not whole yet.
        return "ok" if self._connected and self.sequencer.active else "degraded"

    def cluster_info(self, local: dict[str, Any]) -> dict[str, Any]:
        return self._members.merge(local)

    # -- connection lifecycle -------------------------------------------------

    async def _supervise(self, first: asyncio.Future[None]) -> None:
        backoff = 0.1
        while True:
            started = time.monotonic()
            try:
                await self._session(first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)
            if not first.done():
                first.set_result(None)
            if time.monotonic() - started > 10 * MAX_BACKOFF:
                backoff = 0.1  # it was a working connection, not a failing attempt
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _session(self, first: asyncio.Future[None]) -> None:
        client = self.redis.client()
        pubsub = client.pubsub()
        tasks: list[asyncio.Task[None]] = []
        try:
            await client.ping()
            await self.sequencer.load(client)
            count = await self._channels.subscribe(pubsub, self._control)
            await self._inbound.confirm(pubsub, count, COMMAND_TIMEOUT)
            known = set(self._members.peers)
            self._members.restart()
            await self._members.beat(client, self._listing)  # peers relay backlogs once they see it
            self._up()
            if not self._backlog:
                self.sequencer.active = True
            if not first.done():
                first.set_result(None)
            self._channels.changed.set()  # clients may have come or gone meanwhile
            tasks = [
                asyncio.ensure_future(self._inbound.read(pubsub)),
                asyncio.ensure_future(self._channels.follow(pubsub)),
                asyncio.ensure_future(self._heartbeat(client)),
                asyncio.ensure_future(self._write(client, known)),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise BrokerError("relay task ended")
        finally:
            for task in tasks:
                task.cancel()
            self.sequencer.fail_pending()
            self._confirmations.cut_off()
            await _until_cancelled(tasks)
            self._backlog.requeue()
            await close_quietly(pubsub, client)

    def _up(self) -> None:
        self._connected = True
        if self._down_since is not None:
            self.reconnects += 1
            log.warning(
                "redis at %s reachable again after %.1fs; relaying %d queued messages",
                self.safe_url, time.monotonic() - self._down_since, len(self._backlog),
            )
            self._down_since = None

    def _lost(self, exc: BaseException) -> None:
        self._connected = False
        if self._down_since is not None:
            log.debug("redis at %s still unreachable: %s", self.safe_url, self.redis.scrub(exc))
            return
        self._down_since = time.monotonic()
        from redis.exceptions import RedisError

        expected = isinstance(exc, (RedisError, OSError, asyncio.TimeoutError, BrokerError))
        log.warning(
            "redis at %s unreachable (%s): local delivery continues, up to %d messages for other hubs "
            "are kept, reconnecting", self.safe_url, self.redis.scrub(exc), self.outbox_limit,
            exc_info=None if expected else exc,
        )

    # -- the tasks of one connected session --------------------------------------

    async def _write(self, client: Any, known: set[str]) -> None:
        backlog = self._backlog
        sequencer = self.sequencer
        if backlog and known:
            await self._members.await_peers(client, known, PEER_GRACE)
        while True:
            if backlog.queue:  # relayed first: published before anything queued for stamping
                await backlog.relay(client, BATCH, self.sequencer.retained_key)
                continue
            backlog.report()
            sequencer.active = True  # from now on Redis stamps
            if sequencer.queue:
                await sequencer.run_batch(client)
                continue
            self._wake.clear()
            await self._wake.wait()

    async def _heartbeat(self, client: Any) -> None:
        await heartbeat(client, self._members, self._listing, self._hub, self.sequencer.retained_key)
