"""The store port: what the hub keeps on disk so that it outlives a restart.

The retained values, the MQTT persistent sessions, and the readings
recorded (hub/recording.py) with the queries that read them back. The base
class keeps nothing, for hubs whose broker keeps retained values itself
(Redis) and record nothing, and for tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Callable

from .message import Message
from .recording import Recorder


class Store:
    #: Told of each value a failed write gives back (the value kept for good
    #: before it, None if none), so that memory holds what the disk holds.
    on_revert: Callable[[str, Message | None], None] | None = None

    def load_retained(self) -> list[Message]:
        """The retained values kept from before (``"retained": true`` variants)."""
        return []

    def retained_changed(self, event: str, value: Message | None) -> None:
        """``event``'s retained value is now ``value`` (None: cleared).
        Must not block: a store writes later, coalescing changes."""

    def stored(self) -> asyncio.Future[None]:
        """Resolves once every change so far is kept for good; fails with
        OSError when it cannot be (the changes are then given back through
        ``on_revert``)."""
        waiter = asyncio.get_running_loop().create_future()
        waiter.set_result(None)
        return waiter

    def load_sessions(self) -> bytes | None:
        """The MQTT sessions as last saved (server/mqtt/persist.py's
        encoding, opaque here), or None."""
        return None

    def keep_sessions(self, snapshot: Callable[[], Callable[[], bytes]]) -> None:
        """From now on, what ``snapshot()`` returns is what to save of the
        sessions each time ``sessions_changed`` was called since the last
        save: ``snapshot`` runs on the event loop, taking references only;
        the function it returns encodes them, and may run in another thread."""

    def set_sessions_aside(self) -> None:
        """What ``load_sessions`` returned cannot be read: keep it for a
        human instead of saving over it."""

    def sessions_changed(self) -> None:
        """The sessions changed; called for every change, so it must only
        note it (a store saves at most once an interval, and on close)."""

    def keep_readings(self, recorder: Recorder) -> None:
        """Record what ``recorder`` collects (a store that records takes it
        once an interval, off the event loop)."""

    @property
    def records(self) -> bool:
        return False

    async def readings(self, event: str, start: float, end: float, step: int | None) -> dict[str, Any]:
        """``event``'s readings between two times (stores/sqlite/query.py's shape)."""
        return {"event": event, "from": start, "to": end, "series": []}

    async def recorded_events(self, allowed: Callable[[str], bool] | None) -> list[dict[str, Any]]:
        """What is recorded, the events ``allowed`` only."""
        return []

    async def sparklines(self, start: float, end: float, points: int, events: Sequence[str] | None,
                         allowed: Callable[[str], bool] | None, max_events: int) -> dict[str, Any]:
        """Many events' series between two times, about ``points`` means each,
        from rollups only (stores/sqlite/sparklines.py's shape)."""
        return {"from": start, "to": end, "step": 0, "events": {}, "truncated": False}

    def stats(self) -> dict[str, float]:
        """Gauges and counters for /metrics (name: value)."""
        return {}

    async def close(self) -> None:
        """Write what is pending (on shutdown)."""
