"""The default broker: one hub, nothing to relay.

Messages are numbered, kept and retained by the hub's own History and
Retained values, so every method is the hub's own work, done at once; the
single-hub path waits on nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from ..hub.broker import Broker, Confirm, Hub
from ..hub.history import Page
from ..hub.message import Connection, Message, runs


class MemoryBroker(Broker):
    _hub: Hub

    def bind(self, hub: Hub) -> None:
        self._hub = hub

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def publish(self, message: Message) -> None:
        hub = self._hub
        hub.accept(message)
        hub.deliver(message)

    def publish_many(self, messages: Sequence[Message]) -> None:
        hub = self._hub
        found = runs(messages)  # once for both: each step does what depends on the event once per run
        hub.accept_runs(found)
        hub.deliver_runs(found)

    def interest(self, event: str, wanted: bool) -> None:
        pass

    def join(self, conn: Connection, event: str, since: tuple[int, str] | None, confirm: Confirm) -> None:
        self._hub.join_here(conn, event, since, confirm)

    def elsewhere(self, client_name: str) -> bool:
        return False

    def cluster_info(self, local: dict[str, Any]) -> dict[str, Any]:
        return local

    async def retained_frames(
        self, event: str | None, allowed: Callable[[str], bool] | None = None
    ) -> list[bytes]:
        values = self._hub.retained.items(event)
        return [value.payload for value in values if allowed is None or allowed(value.event)]

    async def history_page(self, event: str, since: int, limit: int, epoch: str | None) -> Page:
        return self._hub.history.page(event, since, limit, epoch)

    def stored(self) -> asyncio.Future[None]:
        return self._hub.retained.stored()

    @property
    def state(self) -> str:
        return "ok"
