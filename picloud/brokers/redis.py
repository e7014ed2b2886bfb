"""Relaying through Redis, so that several hubs act as one.

Each hub (a *node*) PUBLISHes every message it accepts on the channel
``<prefix>:msg:<event>`` and SUBSCRIBEs only to the events its own clients
want. What travels is the node id, a newline, and the publish frame exactly as
the publishing node encoded it; a node skips its own messages, which it has
already delivered locally.

For ``/info`` each node writes its own part to ``<prefix>:node:<id>`` with a
TTL, on its own timer, and lists itself in the set ``<prefix>:nodes``; a node
that stops refreshing its key drops out when the key expires.

While Redis cannot be reached, local delivery goes on and messages for other
nodes wait in a bounded outbox. Back online, a node re-subscribes, registers
itself, waits (briefly) until the nodes it knew have registered again, which
they do only after re-subscribing, and then relays the backlog in order.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import secrets
import socket
import time
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import ujson

from ..exceptions import BrokerError, ConfigError
from ..protocol import dumps
from ..pubsub import Message
from .base import Broker

log = logging.getLogger("picloud.broker")

HEARTBEAT = 1.0  # seconds between refreshes of this node's key
NODE_TTL = 3.0  # a node silent this long drops out of /info
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
MAX_BACKOFF = 2.0
PEER_GRACE = NODE_TTL + MAX_BACKOFF  # longest wait for known nodes to re-subscribe
BATCH = 256  # messages per pipelined round trip


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = parts.query
    if "password" in query:
        query = urlencode(
            [(k, "***" if k == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        )
    return parts._replace(netloc=netloc, query=query).geturl()


def default_node_id() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:40] or "hub"
    return f"{host}-{secrets.token_hex(3)}"


class RedisBroker(Broker):
    local_only = False

    def __init__(
        self, url: str, *, prefix: str = "picloud", outbox: int = 10000, node: str | None = None
    ) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise ConfigError("the redis broker needs redis-py: pip install 'picloud[redis]'") from None
        if not prefix:
            raise ConfigError("broker prefix must not be empty")
        if outbox < 1:
            raise ConfigError(f"broker outbox must be at least 1, not {outbox}")
        self.url = url
        self.safe_url = redact(url)
        self._password = urlsplit(url).password
        # Reconnecting is this class's job: redis-py's own retries would hold
        # a failing command for seconds instead of letting the outbox take over.
        self._options = {
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": COMMAND_TIMEOUT,
            "socket_keepalive": True,
        }
        self._from_url = aioredis.from_url
        try:
            self._from_url(url, **self._options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad broker url {self.safe_url!r}: {self._scrub(exc)}") from None
        self.node = node or default_node_id()
        self.prefix = prefix
        self.outbox_limit = outbox
        self._channel_prefix = f"{prefix}:msg:".encode()
        self._control = f"{prefix}:ctl:{self.node}".encode()
        self._nodes_key = f"{prefix}:nodes"
        self._tag = self.node.encode() + b"\n"
        self._outbox: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._inflight: list[tuple[bytes, bytes]] = []
        self._wake = asyncio.Event()
        self._resync = asyncio.Event()
        self._wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._peers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._deliver: Callable[[Message], object] = lambda message: None
        self._describe: Callable[[], dict[str, Any]] = lambda: {"subscriptions": [], "all_connections": []}
        self._connected = False
        self._down_since: float | None = None
        self._supervisor: asyncio.Task | None = None
        self.dropped = 0
        self._dropped_unreported = 0

    # -- the Broker interface ------------------------------------------------

    async def start(
        self, deliver: Callable[[Message], object], describe: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self._deliver = deliver
        if describe is not None:
            self._describe = describe
        log.info("relaying through %s as node %s (prefix %r)", self.safe_url, self.node, self.prefix)
        first: asyncio.Future = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.ensure_future(self._supervise(first))
        await first  # one attempt made: connected, or degraded and retrying

    async def stop(self) -> None:
        deadline = time.monotonic() + 1.0
        while self._connected and (self._outbox or self._inflight) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # let the writer relay what it has
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        left = len(self._outbox) + len(self._inflight)
        if left:
            log.warning("%d messages for other hubs were not relayed before shutdown", left)
        if self._connected:  # leave /info at once instead of after the TTL
            client = self._from_url(self.url, **self._options)
            try:
                await asyncio.wait_for(
                    client.pipeline(transaction=False)
                    .delete(self._node_key(self.node)).srem(self._nodes_key, self.node).execute(),
                    1.0,
                )
            except Exception:  # best effort: the TTL removes the key anyway
                pass
            finally:
                await self._close(client)
        self._connected = False

    def publish(self, message: Message) -> None:
        outbox = self._outbox
        if len(outbox) >= self.outbox_limit:
            outbox.popleft()
            self._count_drops(1)
        outbox.append((self._channel_prefix + message.event.encode(), self._tag + message.payload))
        self._wake.set()

    def interest(self, event: str, wanted: bool) -> None:
        if wanted:
            self._wanted.add(event)
        else:
            self._wanted.discard(event)
        self._resync.set()

    @property
    def state(self) -> str:
        return "ok" if self._connected else "degraded"

    def cluster_info(self, local: dict[str, Any]) -> dict[str, Any]:
        node = self.node
        connections = local["all_connections"]
        for conn in connections:
            conn["node"] = node
        by_event: dict[str, list] = {}
        for sub in local["subscriptions"]:
            for conn in sub["connections"]:
                conn["node"] = node
            by_event[sub["name"]] = sub["connections"]
        alive_since = time.monotonic() - NODE_TTL
        for _, (seen, info) in sorted(self._peers.items()):
            if seen < alive_since:  # not heard of lately (this node may be cut off)
                continue
            connections.extend(info.get("all_connections", ()))
            for sub in info.get("subscriptions", ()):
                by_event.setdefault(sub["name"], []).extend(sub["connections"])
        return {
            "subscriptions": [{"name": name, "connections": conns} for name, conns in by_event.items()],
            "all_connections": connections,
        }

    # -- connection lifecycle -------------------------------------------------

    async def _supervise(self, first: asyncio.Future) -> None:
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

    async def _session(self, first: asyncio.Future) -> None:
        client = self._from_url(self.url, **self._options)
        pubsub = client.pubsub()
        tasks: list[asyncio.Task] = []
        try:
            await client.ping()
            wanted = set(self._wanted)
            await pubsub.subscribe(self._control, *map(self._channel, wanted))
            await self._confirm(pubsub, 1 + len(wanted))
            self._subscribed = wanted
            known = set(self._peers)
            await self._beat(client)  # peers relay their backlogs once they see this
            self._up()
            if not first.done():
                first.set_result(None)
            self._resync.set()
            tasks = [
                asyncio.ensure_future(self._read(pubsub)),
                asyncio.ensure_future(self._sync(pubsub)),
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
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._inflight:  # unconfirmed: send again (a repeat beats a loss)
                self._outbox.extendleft(reversed(self._inflight))
                self._inflight = []
                excess = len(self._outbox) - self.outbox_limit
                for _ in range(max(excess, 0)):
                    self._outbox.popleft()
                if excess > 0:
                    self._count_drops(excess)
            await self._close(pubsub, client)

    async def _close(self, *closables: Any) -> None:
        for closable in closables:
            try:
                await asyncio.wait_for(closable.aclose(), 1.0)
            except Exception:  # the connection is already gone
                pass

    def _up(self) -> None:
        self._connected = True
        if self._down_since is not None:
            log.warning(
                "redis at %s reachable again after %.1fs; relaying %d queued messages",
                self.safe_url, time.monotonic() - self._down_since, len(self._outbox),
            )
            self._down_since = None

    def _lost(self, exc: BaseException) -> None:
        self._connected = False
        if self._down_since is not None:
            log.debug("redis at %s still unreachable: %s", self.safe_url, self._scrub(exc))
            return
        self._down_since = time.monotonic()
        from redis.exceptions import RedisError

        expected = isinstance(exc, (RedisError, OSError, asyncio.TimeoutError, BrokerError))
        log.warning(
            "redis at %s unreachable (%s): local delivery continues, up to %d messages for other hubs "
            "are kept, reconnecting", self.safe_url, self._scrub(exc), self.outbox_limit,
            exc_info=None if expected else exc,
        )

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text.rstrip(".").lower()

    def _count_drops(self, count: int) -> None:
        if not self._dropped_unreported:
            log.warning(
                "broker outbox full (%d messages): dropping the oldest messages for other hubs",
                self.outbox_limit,
            )
        self.dropped += count
        self._dropped_unreported += count

    # -- the tasks of one connected session --------------------------------------

    def _channel(self, event: str) -> bytes:
        return self._channel_prefix + event.encode()

    def _node_key(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    async def _confirm(self, pubsub: Any, count: int) -> None:
        """Wait until Redis confirmed ``count`` subscriptions."""
        while count:
            message = await pubsub.get_message(timeout=COMMAND_TIMEOUT)
            if message is None:
                raise BrokerError("redis did not confirm the subscriptions")
            if message["type"] == "subscribe":
                count -= 1
            elif message["type"] == "message":
                self._receive(message["channel"], message["data"])

    async def _read(self, pubsub: Any) -> None:
        receive = self._receive
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None and message["type"] == "message":
                receive(message["channel"], message["data"])

    def _receive(self, channel: bytes, data: bytes) -> None:
        if data.startswith(self._tag) or not channel.startswith(self._channel_prefix):
            return  # our own message, or the control channel
        cut = data.find(b"\n")
        if cut < 0:
            return
        try:
            event = channel[len(self._channel_prefix):].decode()
        except UnicodeDecodeError:
            return
        self._deliver(Message(event, data[cut + 1:]))

    async def _sync(self, pubsub: Any) -> None:
        """Keep Redis subscriptions equal to what local clients want."""
        while True:
            await self._resync.wait()
            self._resync.clear()
            add = self._wanted - self._subscribed
            remove = self._subscribed - self._wanted
            if add:
                self._subscribed |= add
                await pubsub.subscribe(*map(self._channel, add))
            if remove:
                self._subscribed -= remove
                await pubsub.unsubscribe(*map(self._channel, remove))

    async def _write(self, client: Any, known: set[str]) -> None:
        if self._outbox and known:
            await self._await_peers(client, known)
        outbox = self._outbox
        while True:
            if not outbox:
                if self._dropped_unreported:
                    log.warning(
                        "%d messages for other hubs were dropped (outbox full)", self._dropped_unreported
                    )
                    self._dropped_unreported = 0
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._inflight = [outbox.popleft() for _ in range(min(len(outbox), BATCH))]
            if len(batch) == 1:
                await client.publish(*batch[0])
            else:
                pipe = client.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                await pipe.execute()
            self._inflight = []

    async def _await_peers(self, client: Any, peers: set[str]) -> None:
        """Give nodes known before an outage the time to re-subscribe, so
        that the backlog does not reach Redis before its listeners do."""
        keys = [self._node_key(peer) for peer in peers]
        deadline = time.monotonic() + PEER_GRACE
        while await client.exists(*keys) < len(keys) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def _heartbeat(self, client: Any) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self._beat(client)

    async def _beat(self, client: Any) -> None:
        """Refresh this node's part of /info and read everyone else's."""
        info = self._describe()
        for conn in info["all_connections"]:
            conn["node"] = self.node
        for sub in info["subscriptions"]:
            for conn in sub["connections"]:
                conn["node"] = self.node
        pipe = client.pipeline(transaction=False)
        pipe.set(self._node_key(self.node), dumps(info), px=int(NODE_TTL * 1000))
        pipe.sadd(self._nodes_key, self.node)
        pipe.smembers(self._nodes_key)
        members = (await pipe.execute())[2]
        peers = sorted(m.decode(errors="replace") for m in members)
        peers.remove(self.node)
        values = await client.mget([self._node_key(p) for p in peers]) if peers else []
        now = time.monotonic()
        fresh, gone = {}, []
        for peer, value in zip(peers, values):
            if value is None:
                gone.append(peer)
                continue
            try:
                fresh[peer] = (now, ujson.loads(value))
            except ValueError:
                log.debug("ignoring unreadable info of node %s", peer)
        if gone:
            await client.srem(self._nodes_key, *gone)
        self._peers = fresh
