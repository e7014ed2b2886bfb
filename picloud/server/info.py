"""Pushes the ``/info`` snapshot to every info socket on one timer."""

from __future__ import annotations

from tornado.ioloop import PeriodicCallback

from ..hub.message import Connection, Message
from ..hub.pubsub import PubSub
from ..wire.codec import dumps


class InfoPusher:
    """The snapshot is built and framed once per tick for all of them, and
    the timer runs only while someone is watching."""

    def __init__(self, pubsub: PubSub, interval: float) -> None:
        self.pubsub = pubsub
        self.interval = interval
        self.sockets: dict[Connection, None] = {}
        self._timer: PeriodicCallback | None = None

    def add(self, sock: Connection) -> None:
        self.sockets[sock] = None
        sock.deliver(self._message())  # a page is never empty
        if self._timer is None:
            self._timer = PeriodicCallback(self.push, self.interval * 1000)
            self._timer.start()

    def discard(self, sock: Connection) -> None:
        self.sockets.pop(sock, None)
        if not self.sockets and self._timer is not None:
            self._timer.stop()
            self._timer = None

    def push(self) -> None:
        message = self._message()
        for sock in self.sockets:
            sock.deliver(message)

    def _message(self) -> Message:
        return Message("", dumps(self.pubsub.snapshot()))
