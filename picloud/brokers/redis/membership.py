"""Which hubs (nodes) share a Redis, and what each one says in ``/info``.

Every beat a node refreshes ``<prefix>:alive:<id>`` (its listing's version,
with a TTL) and lists itself in the set ``<prefix>:hubs``; a node that stops
refreshing drops out when the key expires, and the set is only an index,
cleaned by whoever finds a member's key gone.

The listing itself costs what changed, not everything there is: a node keeps
one record per connection (its client name, address and events) in the hash
``<prefix>:listing:<id>`` and writes only the records of connections that
came, went or changed their subscriptions since the last beat, noting their
ids under the new version in ``<prefix>:changes:<id>`` (the last
KEPT_CHANGES versions). A peer whose version moved reads just those records;
one further behind, or new to it, reads the whole hash once. With 100
connections of 1000 subscriptions each, an idle cluster exchanges a few
hundred bytes a beat instead of the whole listing from every node.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import ujson

from ...wire.codec import dumps

log = logging.getLogger("picloud.broker")

HEARTBEAT = 1.0  # seconds between refreshes of a node's key
NODE_TTL = 3.0  # a node silent this long drops out of /info


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
    """The host name (readable in /info) and a random part (unique per process)."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:40] or "hub"
    return f"{host}-{secrets.token_hex(3)}"


#: Versions of changes a node keeps; a peer further behind reads everything.
KEPT_CHANGES = 64
FULL = "*"  # a changes entry meaning "the listing was rewritten"

Listing = Callable[[bool], "dict[str, dict[str, Any] | None]"]


class Peer:
    """What this node knows of another: when it was last seen alive, the
    version of its listing read, and its records by id."""

    __slots__ = ("records", "seen", "version")

    def __init__(self) -> None:
        self.seen = 0.0
        self.version = 0
        self.records: dict[str, dict[str, Any]] = {}


class Membership:
    def __init__(self, prefix: str, node: str) -> None:
        self.node = node
        self.prefix = prefix
        self._nodes_key = f"{prefix}:hubs"
        self.peers: dict[str, Peer] = {}
        self.peer_names: set[str] = set()  # client names connected to live peers
        self.version = 0
        self._rewrite = True  # the first beat of a session writes the whole listing

    def key(self, kind: str, node: str) -> str:
        return f"{self.prefix}:{kind}:{node}"

    def restart(self) -> None:
        """A new Redis session: the listing there may have expired meanwhile."""
        self._rewrite = True

    async def beat(self, client: Any, listing: Listing) -> bool:
        """Write what changed of this node's listing, refresh its liveness,
        and read what changed of everyone else's; True if any peer's did."""
        await self._write(client, listing)
        members = await client.smembers(self._nodes_key)
        peers = sorted(m.decode(errors="replace") for m in members if m != self.node.encode())
        versions = await client.mget([self.key("alive", p) for p in peers]) if peers else []
        now = time.monotonic()
        fresh: dict[str, Peer] = {}
        gone = []
        changed = False
        for name, value in zip(peers, versions):
            if value is None:
                gone.append(name)
                continue
            try:
                version = int(value)
            except ValueError:
                log.debug("ignoring node %s: unreadable version", name)
                continue
            peer = self.peers.get(name) or Peer()
            if version != peer.version:
                await self._read(client, name, peer, version)
                changed = True
            peer.seen = now
            fresh[name] = peer
        if gone:
            await client.srem(self._nodes_key, *gone)
        changed = changed or fresh.keys() != self.peers.keys()
        self.peers = fresh
        if changed:
            self.peer_names = {str(rec.get("client_name")) for p in fresh.values() for rec in p.records.values()}
        return changed

    async def _write(self, client: Any, listing: Listing) -> None:
        rewrite = self._rewrite
        records = listing(rewrite)
        hash_key, changes_key = self.key("listing", self.node), self.key("changes", self.node)
        ttl = int(NODE_TTL * 1000)
        # One transaction: a peer never reads a version without its records.
        pipe = client.pipeline(transaction=True)
        if rewrite or records:
            self.version += 1
            if rewrite:
                pipe.delete(hash_key)
            written = {rid: dumps(rec) for rid, rec in records.items() if rec is not None}
            removed = [rid for rid, rec in records.items() if rec is None]
            if written:
                pipe.hset(hash_key, mapping=written)
            if removed:
                pipe.hdel(hash_key, *removed)
            pipe.rpush(changes_key, f"{self.version} {FULL if rewrite else ' '.join(records)}")
            pipe.ltrim(changes_key, -KEPT_CHANGES, -1)
        pipe.set(self.key("alive", self.node), self.version, px=ttl)
        pipe.pexpire(hash_key, ttl)
        pipe.pexpire(changes_key, ttl)
        pipe.sadd(self._nodes_key, self.node)
        await pipe.execute()
        self._rewrite = False

    async def _read(self, client: Any, name: str, peer: Peer, version: int) -> None:
        """Bring ``peer`` up to at least ``version``: its changed records, or
        all of them when it is too far behind to tell what changed."""
        hash_key, changes_key = self.key("listing", name), self.key("changes", name)
        ids: set[str] | None = None
        latest = version
        if peer.version and 0 < version - peer.version <= KEPT_CHANGES:
            ids, latest = changed_ids(await client.lrange(changes_key, 0, -1), peer.version)
        if ids is None:
            pipe = client.pipeline(transaction=True)
            pipe.lrange(changes_key, -1, -1)
            pipe.hgetall(hash_key)
            last, everything = await pipe.execute()
            peer.records = dict(decoded(name, everything.items()))
            peer.version = int(last[0].split(b" ", 1)[0]) if last else version
            return
        if ids:
            order = sorted(ids, key=int)
            values = await client.hmget(hash_key, order)
            for rid, value in zip(order, values):
                if value is None:
                    peer.records.pop(rid, None)
            peer.records.update(decoded(name, ((rid, v) for rid, v in zip(order, values) if v is not None)))
        peer.version = latest

    async def leave(self, client: Any) -> None:
        pipe = client.pipeline(transaction=False)
        for kind in ("alive", "listing", "changes"):
            pipe.delete(self.key(kind, self.node))
        await pipe.srem(self._nodes_key, self.node).execute()

    async def await_peers(self, client: Any, peers: set[str], grace: float) -> None:
        """Wait until ``peers`` have all registered, or ``grace`` seconds."""
        keys = [self.key("alive", peer) for peer in peers]
        deadline = time.monotonic() + grace
        while await client.exists(*keys) < len(keys) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def merge(self, local: dict[str, Any]) -> dict[str, Any]:
        """``/info`` of the whole cluster: ``local`` (this node's part) first,
        then the live peers in node order, subscriptions merged by event."""
        tag(local, self.node)
        connections = local["all_connections"]
        by_event = {sub["name"]: sub["connections"] for sub in local["subscriptions"]}
        alive_since = time.monotonic() - NODE_TTL
        for node, peer in sorted(self.peers.items()):
            if peer.seen < alive_since:  # not heard of lately (this node may be cut off)
                continue
            for rid in sorted(peer.records, key=int):  # connect order
                record = peer.records[rid]
                entry = {key: value for key, value in record.items() if key in DETAILS}
                entry.update({
                    "client_name": record.get("client_name", ""), "ip_address": record.get("ip_address", ""),
                    "connected_at": record.get("connected_at", ""), "node": node,
                })
                connections.append(entry)
                for event in record.get("events", ()):
                    by_event.setdefault(event, []).append(entry)
        return {
            "subscriptions": [{"name": name, "connections": conns} for name, conns in by_event.items()],
            "all_connections": connections,
        }


#: What a front end may add to a connection's record (MQTT's, for now).
DETAILS = frozenset({"protocol", "keepalive", "clean_session"})


def tag(info: dict[str, Any], node: str) -> dict[str, Any]:
    """Add ``node`` to every connection of this hub's own part of /info."""
    for conn in info["all_connections"]:
        conn["node"] = node
    for sub in info["subscriptions"]:
        for conn in sub["connections"]:
            conn["node"] = node
    return info


def changed_ids(entries: list[bytes], since: int) -> tuple[set[str] | None, int]:
    """The ids changed after version ``since`` and the latest version, from
    a node's changes list; None when they are not all there (or a rewrite)."""
    ids: set[str] = set()
    expected = since + 1
    latest = since
    for entry in entries:
        head, _, rest = entry.decode(errors="replace").partition(" ")
        try:
            version = int(head)
        except ValueError:
            return None, since
        if version <= since:
            continue
        if version != expected or rest == FULL:
            return None, since
        ids.update(rest.split())
        latest, expected = version, version + 1
    return (ids if latest > since else None), latest


def decoded(node: str, items: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    for rid, value in items:
        try:
            record = ujson.loads(value)
        except ValueError:
            log.debug("ignoring an unreadable record of node %s", node)
            continue
        if isinstance(record, dict):
            yield (rid.decode() if isinstance(rid, bytes) else rid), record
