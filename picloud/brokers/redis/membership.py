"""Which hubs (nodes) share a Redis, and what each one says in ``/info``.

Each node writes its own part of ``/info`` to ``<prefix>:node:<id>`` with a
TTL, on its own timer, and lists itself in the set ``<prefix>:nodes``. A node
that stops refreshing drops out when its key expires; the set is only an
index, cleaned by whoever finds a member's key gone.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import socket
import time
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


def tag(info: dict[str, Any], node: str) -> dict[str, Any]:
    """Add ``node`` to every connection of a hub's own part of /info."""
    for conn in info["all_connections"]:
        conn["node"] = node
    for sub in info["subscriptions"]:
        for conn in sub["connections"]:
            conn["node"] = node
    return info


class Membership:
    def __init__(self, prefix: str, node: str) -> None:
        self.node = node
        self.prefix = prefix
        self._nodes_key = f"{prefix}:nodes"
        # node -> (monotonic time read, its part of /info)
        self.peers: dict[str, tuple[float, dict[str, Any]]] = {}
        self.peer_names: set[str] = set()  # client names connected to live peers

    def key(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    async def beat(self, client: Any, info: dict[str, Any]) -> None:
        """Refresh this node's part of /info and read everyone else's."""
        pipe = client.pipeline(transaction=False)
        pipe.set(self.key(self.node), dumps(tag(info, self.node)), px=int(NODE_TTL * 1000))
        pipe.sadd(self._nodes_key, self.node)
        pipe.smembers(self._nodes_key)
        members = (await pipe.execute())[2]
        peers = sorted(m.decode(errors="replace") for m in members if m != self.node.encode())
        values = await client.mget([self.key(p) for p in peers]) if peers else []
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
        self.peers = fresh
        self.peer_names = {
            conn.get("client_name") for _, info in fresh.values() for conn in info.get("all_connections", ())
        }

    async def leave(self, client: Any) -> None:
        await client.pipeline(transaction=False).delete(self.key(self.node)).srem(
            self._nodes_key, self.node
        ).execute()

    async def await_peers(self, client: Any, peers: set[str], grace: float) -> None:
        """Wait until ``peers`` have all registered, or ``grace`` seconds."""
        keys = [self.key(peer) for peer in peers]
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
        for _, (seen, info) in sorted(self.peers.items()):
            if seen < alive_since:  # not heard of lately (this node may be cut off)
                continue
            connections.extend(info.get("all_connections", ()))
            for sub in info.get("subscriptions", ()):
                by_event.setdefault(sub["name"], []).extend(sub["connections"])
        return {
            "subscriptions": [{"name": name, "connections": conns} for name, conns in by_event.items()],
            "all_connections": connections,
        }
