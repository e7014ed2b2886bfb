"""Pushes the ``/info`` snapshot to every info socket on one timer."""

from __future__ import annotations

import time

from tornado.ioloop import PeriodicCallback

from ..hub.message import Connection, Message
from ..hub.pubsub import PubSub
from ..wire.codec import dumps


class InfoPusher:
    """The snapshot is built and framed once per tick for all of them, and
    the timer runs only while someone is watching. A socket that opens gets
    the latest one, built at most once an interval however many open: a
    snapshot costs connections x subscriptions, and opening /info is cheap."""

    def __init__(self, pubsub: PubSub, interval: float) -> None:
        self.pubsub = pubsub
        self.interval = interval
        self.sockets: dict[Connection, None] = {}
        self._timer: PeriodicCallback | None = None
        self._latest: Message | None = None
        self._built = 0.0  # monotonic time of _latest

    def add(self, sock: Connection) -> None:
        self.sockets[sock] = None
        latest = self._latest
        if latest is None or time.monotonic() - self._built >= self.interval:
            latest = self._message()
        sock.deliver(latest)  # a page is never empty
        if self._timer is None:
            self._timer = PeriodicCallback(self.push, self.interval * 1000)
            self._timer.start()

    def discard(self, sock: Connection) -> None:
        self.sockets.pop(sock, None)
        if not self.sockets and self._timer is not None:
            self._timer.stop()
            self._timer = None
            self._latest = None  # nobody watching: nothing kept

    def push(self) -> None:
        message = self._message()
        for sock in self.sockets:
            sock.deliver(message)

    def _message(self) -> Message:
        self._latest = Message("", dumps(self.pubsub.snapshot()))
        self._built = time.monotonic()
        return self._latest
