"""The heartbeat of one Redis session: this hub's listing and liveness
(membership.py), then the cluster's presence values corrected (queries.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ...hub.broker import Hub
from .membership import HEARTBEAT, NODE_TTL, Listing, Membership
from .queries import reconcile_presence

log = logging.getLogger("picloud.broker")

#: Heartbeats between presence reconciliations while nothing changed.
RECONCILE_EVERY = 10


async def heartbeat(client: Any, members: Membership, listing: Listing, hub: Hub | None, retained_key: str) -> None:
    """Beat until the connection fails (then raise, so the session reconnects)."""
    beats = busy_until = 0
    while True:
        await asyncio.sleep(HEARTBEAT)
        beats += 1
        if await members.beat(client, listing):
            # Presence values changed within the grace are left alone
            # (hub/presence.py): go on until it has passed.
            busy_until = beats + int((NODE_TTL + HEARTBEAT) / HEARTBEAT) + 1
        # Reading every presence value costs as much as there are clients:
        # while the hubs or their clients change, else now and then.
        if hub is None or (beats > busy_until and beats % RECONCILE_EVERY):
            continue
        try:
            await reconcile_presence(client, retained_key, hub.presence, members)
        except Exception as exc:
            from redis.exceptions import RedisError

            if isinstance(exc, (RedisError, OSError)):
                raise  # the connection is gone: reconnect
            log.exception("cannot reconcile presence")
