"""Publishing that outlives the hub going away: a bounded queue of messages,
each sent with an ``id`` and taken off the queue only when the hub acks it.

A sensor loop must not crash because the hub restarts, nor block while the
Wi-Fi is down: while the hub cannot be reached, ``put`` never waits, and past
``limit`` messages the oldest not yet sent is dropped and counted, as
picloud.js does. While it can, a full queue makes ``put`` wait for room
instead (a fast producer is slowed to what the hub takes, not thinned out).

One task sends, at most WINDOW messages awaiting their ack at a time, over
one publish socket (``Link``). The hub's answer to each id (protocol 2):

- ``ack``: kept by the hub; done.
- an error with its id: the hub will never take that message (outside the
  key's topics, a bad name): dropped and counted as refused, or, for
  "delivered, not retained", done.
- an error without an id (the publish rate, say): nothing was taken; the
  messages awaiting an ack go again after a pause.
- the socket closes: they go again on the next one (at least once: a message
  the hub took just before it died may come twice). Closed for a message too
  big (1009), they go one at a time until the one too big is found, dropped
  and counted.

A refused key, or a route the key may not use, stops it: retrying cannot
help, and the next ``put`` or ``flush`` raises why.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict, deque
from typing import Any, Protocol

from ..exceptions import AuthError, ClientError
from .wire import Refused

log = logging.getLogger("picloud.client")

WINDOW = 100  # messages awaiting an ack at once
TOO_BIG = 1009  # the close code for a message over --max-message-bytes
RETRY_AFTER = 1.0  # seconds before sending again what an id-less error refused


class Link(Protocol):
    """One publish socket, as the outbox drives it (connection.py)."""

    closed: asyncio.Future[int | None]  # resolves with the close code

    def send(self, payload: bytes) -> None: ...
    def close(self) -> None: ...


class Sender(Protocol):
    async def open_link(self, on_reply: Any) -> Link: ...


class Outbox:
    def __init__(self, sender: Sender, limit: int, min_backoff: float = 0.1, max_backoff: float = 5.0) -> None:
        self.sender = sender
        self.limit = limit
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.sent = 0
        self.dropped = 0  # the oldest unsent, past ``limit``
        self.refused = 0  # answered with an error that retrying cannot change
        self.failed: ClientError | None = None
        self.up = True  # until a send fails: a first burst waits rather than drops
        self._unsent: deque[tuple[int, bytes]] = deque()
        self._waiting: OrderedDict[int, bytes] = OrderedDict()  # sent, awaiting the ack
        self._numbers = itertools.count(1)
        self._window = WINDOW
        self._changed: asyncio.Event | None = None  # acks, new messages, a closed link
        self._empty: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry = False  # an error without an id: send what waits again

    def __len__(self) -> int:
        return len(self._unsent) + len(self._waiting)

    def _events(self) -> None:
        if self._changed is None:
            self._changed, self._empty, self._room = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def put(self, payloads: list[bytes]) -> None:
        """Queue encoded publish frames (client/wire.py); waits only for room
        while the hub is reachable."""
        self._events()
        assert self._room is not None
        for payload in payloads:
            while len(self) >= self.limit and self.up and self.failed is None:
                self._room.clear()
                self._start()
                await self._room.wait()
            if self.failed is not None:
                raise self.failed
            if len(self) >= self.limit and self._unsent:
                self._unsent.popleft()  # never one already sent: its ack may be on the way
                self.dropped += 1
            self._unsent.append((next(self._numbers), payload))
        self._start()

    def _start(self) -> None:
        assert self._changed is not None and self._empty is not None
        self._empty.clear()
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def flush(self, timeout: float | None) -> int:
        """Wait until everything queued was sent (or the key refused), at most
        ``timeout`` seconds; how many messages are still unsent."""
        if len(self) and self.failed is None and self._empty is not None:
            try:
                await asyncio.wait_for(self._empty.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return len(self)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    # -- sending -------------------------------------------------------------------------

    async def _run(self) -> None:
        """Keep a publish socket while the client lives, and send over it."""
        backoff = self.min_backoff
        while True:
            try:
                link = await self.sender.open_link(self._reply)
            except (AuthError, Refused) as exc:
                self._fail(exc)
                return
            except ClientError as exc:
                if self.up:
                    log.warning("%s; queueing up to %d messages, reconnecting", exc, self.limit)
                self._state(False)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            sent = self.sent
            code = await self._drive(link)
            if self.sent > sent:
                backoff = self.min_backoff  # it was a working connection
            if code == TOO_BIG:
                self._too_big()
            elif self.up:
                log.warning("lost the connection to the hub; queueing up to %d messages, reconnecting", self.limit)
                self._state(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _drive(self, link: Link) -> int | None:
        """Send over ``link`` until it closes; its close code."""
        assert self._changed is not None and self._empty is not None
        self._requeue()  # what an earlier link sent and did not see acked goes first, again
        try:
            while True:
                while self._unsent and len(self._waiting) < self._window:
                    number, payload = self._unsent.popleft()
                    self._waiting[number] = payload
                    link.send(tagged(payload, number))
                if not len(self):
                    self._empty.set()
                self._changed.clear()
                changed: asyncio.Future[Any] = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait([changed, link.closed], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if link.closed.done():
                    return link.closed.result()
                if self._retry:
                    self._retry = False
                    await asyncio.sleep(RETRY_AFTER)
                    self._requeue()
        finally:
            link.close()

    def _requeue(self) -> None:
        again = list(self._waiting.items())
        self._waiting.clear()
        self._unsent.extendleft(reversed(again))

    def _reply(self, frame: dict[str, Any]) -> None:
        """The hub's answer on the publish socket."""
        number = frame.get("id")
        action = frame.get("action")
        if isinstance(number, int) and number in self._waiting:
            payload = self._waiting.pop(number)
            error = str(frame.get("error", ""))
            if action == "ack" or "not retained" in error:
                self.sent += 1
                self._ok()
            else:
                self.refused += 1
                if self.refused == 1:
                    log.error("the hub refused a message: %s (%s)", error, payload[:80].decode("utf-8", "replace"))
        elif action == "error":
            # Nothing of what waits was taken (the rate, for one): later, again.
            log.warning("the hub refused: %s; sending again shortly", frame.get("error"))
            self._retry = True
        self._progress()

    def _ok(self) -> None:
        if self._window != WINDOW:
            self._window = WINDOW  # the one too big is behind us
        if not self.up:
            log.warning("the hub is reachable again; %d messages still queued", len(self))
            self._state(True)

    def _progress(self) -> None:
        assert self._changed is not None and self._room is not None
        self._changed.set()
        self._room.set()

    def _too_big(self) -> None:
        """Closed with 1009: one at a time, and when one alone is too big, drop it."""
        if self._window == 1 and self._waiting:
            _, payload = self._waiting.popitem(last=False)
            self.refused += 1
            log.error("the hub refused a message over its size limit (%d bytes)", len(payload))
            self._progress()
        self._window = 1

    def _state(self, up: bool) -> None:
        assert self._room is not None
        self.up = up
        self._room.set()  # room, or no longer worth waiting for

    def _fail(self, exc: ClientError) -> None:
        assert self._empty is not None
        self.failed = exc
        self._empty.set()  # nothing more will be sent: flush() need not wait
        self._state(False)  # the next put() or flush() raises it


def tagged(payload: bytes, number: int) -> bytes:
    """A publish frame (a JSON object) with its ``id``."""
    return b'{"id":' + str(number).encode() + b"," + payload[1:]
