"""Retained values: the last ``"retain": true`` message of each event.

A new subscriber receives the event's retained value first, marked
``"retained": true``; that variant is encoded once per retained value, not
per subscriber. Publishing ``"retain": true`` with ``"data": null`` clears it.

The values live here, in memory; the Store (hub/store.py) is told of every
change and keeps them on disk (stores/sqlite/). With the Redis broker the
values live in Redis instead, and this set stays empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from ..config import Config
from ..wire.topics import is_filter, matches
from .message import Message
from .store import Store

log = logging.getLogger("picloud.retained")


def retained_frame(frame: bytes) -> bytes:
    """A publish frame, marked ``"retained": true``."""
    return frame[:-1] + b',"retained":true}'


def retained_variant(message: Message) -> Message:
    """The message a late subscriber gets: the publish frame, marked retained."""
    variant = Message(message.event, retained_frame(message.payload))
    variant.seq = message.seq
    variant.raw = message.raw  # an MQTT payload stays byte for byte
    variant.qos = message.qos
    variant.from_retained = True
    return variant


#: The hub's own values (presence): not counted against the quotas.
OWN_PREFIX = "$SYS/"
#: Events whose refusal was logged; past this, refusals go unlogged (still counted).
MAX_LOGGED_REFUSALS = 1000


class Retained:
    """Retained values in memory, kept on disk by ``store``, within quotas:
    ``max_count`` values and ``max_bytes`` of them (the hub's own ``$SYS/``
    values not counted). A value past a quota is delivered, not retained."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        max_count: int = Config.max_retained.default,
        max_bytes: int = Config.max_retained_bytes.default,
    ) -> None:
        self.store = store if store is not None else Store()
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._values: dict[str, Message] = {value.event: value for value in self.store.load_retained()}
        self.count = 0  # of the values counted against the quotas
        self.bytes = 0
        for value in self._values.values():
            self._counted(value, 1)
        self.refused = 0  # values not retained for a quota
        self._logged: set[str] = set()
        self.store.on_revert = self._revert

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
        """Make ``message`` its event's retained value, or clear the value.
        Past a quota it is not retained: ``message.not_retained`` says why."""
        event = message.event
        old = self._values.get(event)
        if clear:
            if old is None:
                return
            del self._values[event]
            self._counted(old, -1)
            self.store.retained_changed(event, None)
            return
        variant = retained_variant(message)
        if not event.startswith(OWN_PREFIX):
            count = self.count + (old is None)
            size = self.bytes + len(variant.payload) - (0 if old is None else len(old.payload))
            if count > self.max_count or size > self.max_bytes:
                self._refuse(message, f"retained values are at their quota ({self.max_count} values, "
                                      f"{self.max_bytes} bytes): delivered, not retained")
                return
        if old is not None:
            self._counted(old, -1)
        self._values[event] = variant
        self._counted(variant, 1)
        self.store.retained_changed(event, variant)

    def refuse(self, message: Message, reason: str) -> None:
        """Deliver ``message`` without retaining it, saying why (counted, logged once per event)."""
        self._refuse(message, reason)

    def _refuse(self, message: Message, reason: str) -> None:
        message.not_retained = reason
        self.refused += 1
        event = message.event
        if event not in self._logged and len(self._logged) < MAX_LOGGED_REFUSALS:
            self._logged.add(event)
            log.warning("not retained: %r: %s", event, reason)

    def _revert(self, event: str, value: Message | None) -> None:
        """The store could not keep this event's change: back to what it keeps."""
        old = self._values.pop(event, None)
        if old is not None:
            self._counted(old, -1)
        if value is not None:
            self._values[event] = value
            self._counted(value, 1)

    def _counted(self, value: Message, sign: int) -> None:
        if not value.event.startswith(OWN_PREFIX):
            self.count += sign
            self.bytes += sign * len(value.payload)

    def stored(self) -> asyncio.Future[None]:
        """Resolves once every change made so far is on disk (or failed to be)."""
        return self.store.stored()

    async def close(self) -> None:
        await self.store.close()
