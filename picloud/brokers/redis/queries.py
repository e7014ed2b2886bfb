"""Retained values, history and presence as the whole cluster sees them.

The values live in Redis (written by the PUBLISH script): ``GET /retained``
and ``GET /history`` read Redis through ``answer_*``, with the same shapes as
the memory broker's, and every heartbeat corrects presence through
``reconcile_presence``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...hub.history import Page, nothing_lost
from ...hub.presence import PREFIX, Presence, parse_state
from ...hub.retained import retained_frame
from ...wire.topics import is_filter, matches
from .catchup import CatchUpRead, live_entries
from .membership import HEARTBEAT, NODE_TTL, Membership


async def answer_retained(
    fetch: CatchUpRead, event: str | None, allowed: Callable[[str], bool] | None = None
) -> list[bytes]:
    """The frames of ``GET /retained`` (as with the memory broker)."""
    wildcard = event is None or is_filter(event)
    fetched = await fetch(event or "", False, 2 if wildcard else 1)
    return [
        retained_frame(frame) for name, frame in sorted(fetched.retained.items())
        if (event is None or not wildcard or matches(event, name)) and (allowed is None or allowed(name))
    ]


async def answer_history(
    fetch: CatchUpRead, event: str, since: int, limit: int, epoch: str | None, ttl: float | None
) -> Page:
    """``GET /history``, as with the memory broker."""
    fetched = await fetch(event, True, 0)
    kept = live_entries(fetched, ttl)
    current = fetched.epoch
    epoch = epoch or current
    last = fetched.last
    if epoch != current or since > last:
        complete = False
    else:
        after = [entry for entry in kept if entry[0] > since]
        complete = nothing_lost(since, last, after[0][0] if after else None)
    start = since if epoch == current else 0
    frames = [frame for seq, _, frame in kept if seq > start][:limit]
    head = {"event": event, "epoch": current, "last_seq": last, "complete": complete}
    return Page(head, frames)


async def reconcile_presence(client: Any, retained_key: str, presence: Presence, members: Membership) -> None:
    """Correct ``$SYS/clients/...`` in Redis from what the live hubs hold
    (see hub/presence.py); the lowest node id is the one that marks names offline."""
    states = {}
    async for event, frame in client.hscan_iter(retained_key, match=f"{PREFIX}*", count=500):
        state = parse_state(frame)
        if state is not None:
            states[event[len(PREFIX):].decode(errors="replace")] = state
    leader = min([members.node, *members.peers]) == members.node
    presence.reconcile(states, members.peer_names, leader, NODE_TTL + HEARTBEAT)
