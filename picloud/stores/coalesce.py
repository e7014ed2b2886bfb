"""At most one write per interval: what the stores share so that an SD card
sees one small write a second however many changes come, never one per
message. A subclass writes in ``_write`` (ending with ``_wrote()``) and
calls ``_schedule`` when something changed."""

from __future__ import annotations

import asyncio
import time


class Coalesced:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Future[None] | None = None
        self._last_write = 0.0
        self._writing = False
        self._closed = False

    async def _write(self) -> None:
        raise NotImplementedError

    def _schedule(self) -> None:
        if self._timer is not None or self._writing or self._closed:
            return  # the running write reschedules when it ends
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (unit use): close() writes
        delay = max(0.0, self._last_write + self.interval - time.monotonic())
        self._timer = loop.call_later(delay, self._start_write)

    def _start_write(self) -> None:
        self._timer = None
        # Set before the task first runs, so that an update in between does
        # not start a second, concurrent write.
        self._writing = True
        self._task = asyncio.ensure_future(self._write())

    def _wrote(self) -> None:
        """A write ended, well or not: the next one is an interval away."""
        self._writing = False
        self._last_write = time.monotonic()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _finish(self) -> None:
        """On close: no more timers; the write under way, if any, ends."""
        self._closed = True
        self._cancel_timer()
        if self._task is not None and not self._task.done():
            await self._task  # never raises: _write reports its own errors
        self._cancel_timer()  # the write that just ended may have planned another
