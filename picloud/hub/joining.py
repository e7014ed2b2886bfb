"""Joining: a new subscription's checks (the key's rights, the limits) and
its catch-up from this hub's history and retained values. A mixin of
``PubSub`` (pubsub.py), which sets what it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import ProtocolError
from ..wire.topics import is_filter
from .broker import Broker, Confirm
from .catchup import Joined, StandIn
from .history import History
from .message import Connection
from .retained import Retained
from .rights import Permissions


class Joining:
    """``PubSub``'s ``join`` and ``join_here``."""

    broker: Broker
    history: History
    retained: Retained
    max_subscriptions: int
    max_total_subscriptions: int
    subscriptions: int

    if TYPE_CHECKING:  # Subscriptions' (subscriptions.py), after this in PubSub's bases
        def subscribe(self, conn: Connection, event: str, stand_in: StandIn | None = None) -> bool: ...
        def subscription_count(self, conn: Connection) -> int: ...
        def is_subscribed(self, conn: Connection, event: str) -> bool: ...

    def join(
        self, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm,
        permissions: Permissions | None = None,
    ) -> None:
        """Subscribe ``conn`` to ``event`` and catch it up (``Broker.join``).

        Raises ProtocolError when a new subscription would go over
        ``max_subscriptions`` or the hub's ``max_total_subscriptions``, and
        Forbidden when ``permissions`` do not cover it, for every front end
        alike.
        """
        if permissions is not None:
            permissions.check_subscribe(event)
        limit = self.max_subscriptions
        if self.subscription_count(conn) >= limit and not self.is_subscribed(conn, event):
            raise ProtocolError(f"too many subscriptions (limit {limit})")
        total = self.max_total_subscriptions
        if self.subscriptions >= total and not self.is_subscribed(conn, event):
            raise ProtocolError(f"the hub has too many subscriptions (limit {total})")
        self.broker.join(conn, event, since, confirm)

    def join_here(self, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm) -> None:
        """``join`` from this hub's own history and retained values.

        The catch-up is the retained value(s), or with ``since`` (``(seq,
        epoch)``, exact names only) the kept messages after it; when recovery
        fails, the retained value comes first, then what is kept. All of it
        reaches ``conn`` before this returns to the event loop, so no publish
        can fall between the catch-up and live delivery.
        """
        if not self.subscribe(conn, event):
            confirm(Joined(event, already=True))
            return
        if is_filter(event):
            confirm(Joined(event))
            replay = list(self.retained.items(event))
        else:
            history = self.history
            recovered = None
            if since is None:
                replay = list(self.retained.items(event))
            else:
                replay, recovered = history.since(event, since[0], since[1])
                retained = None if recovered else self.retained.get(event)
                if retained is not None:
                    replay.insert(0, retained)
            confirm(Joined(event, epoch=history.epoch, seq=history.last_seq(event), recovered=recovered))
        for message in replay:
            conn.deliver(message)
