"""Retained values: the last ``"retain": true`` message of each event.

A new subscriber receives the event's retained value first, marked
``"retained": true``; that variant is encoded once per retained value, not
per subscriber. Publishing ``"retain": true`` with ``"data": null`` clears it.

The values live here, in memory; the Store (hub/store.py) is told of every
change and keeps them on disk (stores/files.py). With the Redis broker the
values live in Redis instead, and this set stays empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from ..wire.topics import is_filter, matches
from .message import Message
from .store import Store


def retained_frame(frame: bytes) -> bytes:
    """A publish frame, marked ``"retained": true``."""
    return frame[:-1] + b',"retained":true}'


def retained_variant(message: Message) -> Message:
    """The message a late subscriber gets: the publish frame, marked retained."""
    variant = Message(message.event, retained_frame(message.payload))
    variant.seq = message.seq
    return variant


class Retained:
    """Retained values in memory, kept on disk by ``store``."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store if store is not None else Store()
        self._values: dict[str, Message] = {value.event: value for value in self.store.load_retained()}

    # -- reading -----------------------------------------------------------

    def get(self, event: str) -> Message | None:
        return self._values.get(event)

    def items(self, pattern: str | None = None) -> Iterator[Message]:
        """Retained values (``"retained": true`` variants), all or those ``pattern`` matches."""
        if pattern is None:
            yield from self._values.values()
        elif not is_filter(pattern):
            value = self._values.get(pattern)
            if value is not None:
                yield value
        else:
            for event, value in list(self._values.items()):
                if matches(pattern, event):
                    yield value

    def __len__(self) -> int:
        return len(self._values)

    # -- writing -----------------------------------------------------------

    def update(self, message: Message, clear: bool = False) -> None:
        """Make ``message`` its event's retained value, or clear the value."""
        event = message.event
        if clear:
            if self._values.pop(event, None) is None:
                return
            self.store.retained_changed(event, None)
        else:
            variant = self._values[event] = retained_variant(message)
            self.store.retained_changed(event, variant)

    def stored(self) -> asyncio.Future[None]:
        """Resolves once every change made so far is on disk (or failed to be)."""
        return self.store.stored()

    async def close(self) -> None:
        await self.store.close()
