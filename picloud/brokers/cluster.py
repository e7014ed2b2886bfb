"""Retained values and history as the whole cluster sees them (Redis broker).

``ClusterRetained`` stands where the memory broker's RetainedStore does: the
values live in Redis (written by the PUBLISH script), so there is nothing to
keep or write here; an acknowledged retained publish is one Redis confirmed.
``GET /retained`` and ``GET /history`` read Redis through ``answer_*``, and
every heartbeat corrects presence through ``reconcile_presence``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..catchup import live_entries
from ..presence import PREFIX, parse_state
from ..topics import is_filter, matches

if TYPE_CHECKING:
    from ..pubsub import Message


class ClusterRetained:
    path = None
    writes = 0

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def get(self, event: str) -> Message | None:
        return None  # read from Redis by the catch-up (catchup.py)

    def items(self, pattern: str | None = None) -> Iterator[Message]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def update(self, message: Message, clear: bool = False) -> None:
        """Nothing to do: the PUBLISH script retained it."""

    def stored(self) -> asyncio.Future[None]:
        return self.broker.stored()

    async def close(self) -> None:
        """Nothing pending: Redis holds the values."""


def variant(frame: bytes) -> bytes:
    return frame[:-1] + b',"retained":true}'


async def answer_retained(broker: Any, event: str | None) -> bytes:
    """The body of ``GET /retained`` (shape as with the memory broker)."""
    wildcard = event is None or is_filter(event)
    fetched = await broker.fetch(event or "", False, 2 if wildcard else 1)
    frames = [
        variant(frame) for name, frame in sorted(fetched.retained.items())
        if event is None or not wildcard or matches(event, name)
    ]
    return b'{"retained":[' + b",".join(frames) + b"]}"


async def answer_history(
    broker: Any, event: str, since: int, limit: int, epoch: str | None, ttl: float | None
) -> tuple[dict[str, Any], list[bytes]]:
    """The head of ``GET /history`` and the frames, as with the memory broker."""
    fetched = await broker.fetch(event, True, 0)
    kept = live_entries(fetched, ttl)
    current = fetched.epoch
    epoch = epoch or current
    last = fetched.last
    if epoch != current or since > last:
        complete = False
    else:
        after = [entry for entry in kept if entry[0] > since]
        complete = since == last or bool(after and after[0][0] == since + 1)
    start = since if epoch == current else 0
    frames = [frame for seq, _, frame in kept if seq > start][:limit]
    head = {"event": event, "epoch": current, "last_seq": last, "complete": complete}
    return head, frames


async def reconcile_presence(client: Any, retained_key: str, presence: Any, members: Any) -> None:
    """Correct ``$SYS/clients/...`` in Redis from what the live hubs hold
    (see presence.py); the lowest node id is the one that marks names offline."""
    from .membership import HEARTBEAT, NODE_TTL

    states = {}
    async for event, frame in client.hscan_iter(retained_key, match=f"{PREFIX}*", count=500):
        state = parse_state(frame)
        if state is not None:
            states[event[len(PREFIX):].decode(errors="replace")] = state
    leader = min([members.node, *members.peers]) == members.node
    presence.reconcile(states, members.peer_names, leader, NODE_TTL + HEARTBEAT)
