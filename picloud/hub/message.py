"""One published message, and what the hub hands it to."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Callable, Protocol

from ..wire.frames import encode_frame
from ..wire.speedups import load


class Message:
    """One published message, encoded once and shared by every subscriber."""

    __slots__ = ("_frame", "_mqtt", "clears", "event", "from_retained", "not_retained", "origin", "payload", "qos",
                 "raw", "retain", "seq")

    def __init__(self, event: str, payload: bytes) -> None:
        self.event = event
        self.payload = payload  # the JSON publish frame, UTF-8
        self._frame: bytes | None = None
        self.seq = 0  # set by History.stamp when the hub accepts it
        self.retain = False  # also becomes the event's retained value...
        self.clears = False  # ...or clears it (retain with data null)
        self.not_retained: str | None = None  # why a value asked to be retained was not
        # MQTT (server/mqtt/): the payload's bytes as an MQTT client sent them
        # (None: made from the frame on first use), the QoS it was published
        # at (PiCloud publishers count as 0), whether this is a retained value
        # sent for a new subscription, its QoS 0 PUBLISH, built once, and the
        # client id of the bridge that published it (not sent back to it).
        self.raw: bytes | None = None
        self.qos = 0
        self.from_retained = False
        self.origin: str | None = None
        self._mqtt: Any = None  # server/mqtt/connection.py

    @property
    def frame(self) -> bytes:
        """The payload as a complete websocket text frame, built on first use."""
        frame = self._frame
        if frame is None:
            frame = self._frame = encode_frame(self.payload)
        return frame


def like_python(prototype: Message, event: str, payload: bytes) -> Message:
    """A message of ``event`` and ``payload`` as ``prototype``'s type makes
    it: the reference for picloud/wire/_messages.c ``like``, which copies the
    prototype's slots instead of running ``__init__``."""
    return type(prototype)(event, payload)


_native = load("picloud.wire._messages")
#: What ``Message.__init__`` sets, copied by ``new_message``: never changed.
_PROTOTYPE = Message("", b"")
#: ``Message(event, payload)``, at a fraction of its cost where the C twin
#: is built (the publish path makes one for every message).
_like = getattr(_native, "like", None)  # an older build without it: the class
new_message: Callable[[str, bytes], Message] = partial(_like, _PROTOTYPE) if _like is not None else Message


class Connection(Protocol):
    """What the hub delivers to: a websocket, a catch-up's stand-in, a test's inbox.

    Any hashable object with this method. ``deliver`` must not block and must
    not change subscriptions while it runs: the hub calls it for every
    subscriber inside one loop over the event's subscriber set. A connection
    may also have ``deliver_many(messages)``, given the messages of one read
    of one event at once (``Fanout.deliver_runs``).
    """

    def deliver(self, message: Message) -> None: ...


def runs(messages: Sequence[Message]) -> list[Sequence[Message]]:
    """``messages`` cut into runs of one event, in order (the messages of
    one read: what depends only on the event is then done once per run)."""
    found: list[Sequence[Message]] = []
    count = len(messages)
    i = 0
    while i < count:
        event = messages[i].event
        j = i + 1
        while j < count and messages[j].event == event:
            j += 1
        found.append(messages[i:j])
        i = j
    return found
