"""One published message, and what the hub hands it to."""

from __future__ import annotations

from typing import Protocol

from ..wire.frames import encode_frame


class Message:
    """One published message, encoded once and shared by every subscriber."""

    __slots__ = ("_frame", "clears", "event", "not_retained", "payload", "retain", "seq")

    def __init__(self, event: str, payload: bytes) -> None:
        self.event = event
        self.payload = payload  # the JSON publish frame, UTF-8
        self._frame: bytes | None = None
        self.seq = 0  # set by History.stamp when the hub accepts it
        self.retain = False  # also becomes the event's retained value...
        self.clears = False  # ...or clears it (retain with data null)
        self.not_retained: str | None = None  # why a value asked to be retained was not

    @property
    def frame(self) -> bytes:
        """The payload as a complete websocket text frame, built on first use."""
        frame = self._frame
        if frame is None:
            frame = self._frame = encode_frame(self.payload)
        return frame


class Connection(Protocol):
    """What the hub delivers to: a websocket, a catch-up's stand-in, a test's inbox.

    Any hashable object with this method. ``deliver`` must not block and must
    not change subscriptions while it runs: the hub calls it for every
    subscriber inside one loop over the event's subscriber set.
    """

    def deliver(self, message: Message) -> None: ...
