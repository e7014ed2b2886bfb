"""The broker port: every call the hub makes to reach other hubs, or to find
there are none.

The hub always delivers to its own subscribers itself. What differs between
one hub and several is where messages are numbered, kept and retained: on a
single hub (``brokers/memory.py``) that is this hub's History and Retained
values; with several hubs sharing Redis (``brokers/redis/``) it is Redis, so
publishing, catching up and answering ``/retained`` or ``/history`` go
through it. The hub never asks which kind it has: it calls these methods.

``Hub`` is the other direction: what a broker may call on the hub it serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Callable, Protocol

from .catchup import Joined, StandIn
from .history import History, Page
from .message import Connection, Message
from .presence import Presence
from .retained import Retained

#: Receives a subscription's confirmation, before any of its catch-up.
Confirm = Callable[[Joined], None]


class Hub(Protocol):
    """What of the hub a broker uses (``hub/pubsub.py`` implements it)."""

    history: History
    retained: Retained
    presence: Presence

    def accept(self, message: Message) -> None: ...
    def deliver(self, message: Message) -> int: ...
    def accept_runs(self, event_runs: Sequence[Sequence[Message]]) -> None: ...
    def deliver_runs(self, event_runs: Sequence[Sequence[Message]]) -> None: ...
    def local_info(self) -> dict[str, Any]: ...
    def listing(self, full: bool = False) -> dict[str, dict[str, Any] | None]: ...
    def join_here(self, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm) -> None: ...
    def subscribe(self, conn: Connection, event: str, stand_in: StandIn | None = None) -> bool: ...
    def stands_in(self, conn: Connection, event: str, stand_in: StandIn) -> bool: ...
    def go_live(self, conn: Connection, event: str, stand_in: StandIn) -> bool: ...


class Broker:
    """The port; ``brokers/`` holds its adapters. Every method must not block."""

    #: Times the connection to other hubs was re-established (in /metrics).
    reconnects = 0
    #: Whether the broker keeps the retained values itself (Redis does, for
    #: every hub); otherwise the hub's Store keeps them (hub/store.py).
    keeps_retained = False
    #: Whether the hub is given every message published (one hub), or only
    #: those its subscriptions asked the broker for (Redis).
    sees_everything = True

    def bind(self, hub: Hub) -> None:
        """Called once by the hub this broker serves, before anything else."""
        raise NotImplementedError

    async def start(self) -> None:
        """Begin relaying (returns once a first connection was tried)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop relaying and release connections."""
        raise NotImplementedError

    def publish(self, message: Message) -> None:
        """Number, keep and retain ``message`` as the cluster does, deliver it
        to this hub's subscribers, and relay it to the others."""
        raise NotImplementedError

    def publish_many(self, messages: Sequence[Message]) -> None:
        """``publish`` each of ``messages`` (one read's), in order; a broker
        may do what depends only on the event once per run of one event."""
        publish = self.publish
        for message in messages:
            publish(message)

    def interest(self, event: str, wanted: bool) -> None:
        """This hub's first subscriber to ``event`` arrived, or its last one left."""
        raise NotImplementedError

    def join(self, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm) -> None:
        """Subscribe ``conn`` to ``event`` and catch it up: ``confirm``, then
        the retained value(s) or with ``since`` what came after it, then live
        messages, with no gap and no duplicate. ``confirm`` may come later."""
        raise NotImplementedError

    def elsewhere(self, client_name: str) -> bool:
        """Whether another hub holds a connection of ``client_name``."""
        raise NotImplementedError

    def cluster_info(self, local: dict[str, Any]) -> dict[str, Any]:
        """``/info`` for every hub, given this hub's part."""
        raise NotImplementedError

    async def retained_frames(
        self, event: str | None, allowed: Callable[[str], bool] | None = None
    ) -> list[bytes]:
        """Retained values' frames: all, one event's, or those a filter matches,
        and of those only the events ``allowed`` admits (a key's rights).
        Raises BrokerError when they cannot be read."""
        raise NotImplementedError

    async def history_page(self, event: str, since: int, limit: int, epoch: str | None) -> Page:
        """Up to ``limit`` kept messages of ``event`` after ``since``.
        Raises BrokerError when they cannot be read."""
        raise NotImplementedError

    def stored(self) -> asyncio.Future[None]:
        """Resolves once every retained value accepted so far is kept for good;
        fails with OSError (or BrokerError) when it cannot be."""
        raise NotImplementedError

    @property
    def state(self) -> str:
        """``ok``, or ``degraded`` while other hubs cannot be reached."""
        raise NotImplementedError
