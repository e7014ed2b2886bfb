"""Publishing that outlives the hub going away: a bounded queue of messages,
sent in order over the ``/publish`` websocket and each batch acknowledged.

A sensor loop must not crash because the hub restarts, nor block while the
Wi-Fi is down: while the hub cannot be reached, ``put`` never waits, and past
``limit`` messages the oldest is dropped and counted, as picloud.js does.
While it can, a full queue makes ``put`` wait for room instead (a fast
producer is slowed to what the hub takes, not thinned out). One task sends what is queued, in
batches of at most BATCH, each as one frame whose last message carries an
``id`` (protocol 2): the hub's ack says the whole batch was accepted, so a
batch is taken off the queue only then. A connection lost before the ack
sends the batch again on the next one (at least once: a hub that took it and
died before acking gets it twice). Unreachable hubs are retried with backoff;
a refused key stops it (retrying cannot help) and says so in ``failed``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from typing import Any, Protocol

from ..exceptions import AuthError, ClientError

log = logging.getLogger("picloud.client")

BATCH = 500  # messages per frame; each must fit --max-batch (1000 by default)
BATCH_BYTES = 256 * 1024  # and --max-message-bytes (1 MiB): a frame holds at least one message


class BatchRefused(ClientError):
    """The hub answered a batch with an error (a message it will never take)."""


class Sender(Protocol):
    async def send_batch(self, payloads: list[bytes], request_id: int) -> None: ...


class Outbox:
    def __init__(self, sender: Sender, limit: int, min_backoff: float = 0.1, max_backoff: float = 5.0) -> None:
        self.sender = sender
        self.limit = limit
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.sent = 0
        self.dropped = 0  # the oldest, past ``limit``
        self.refused = 0  # in batches the hub refused
        self.failed: ClientError | None = None
        self._queue: deque[tuple[int, bytes]] = deque()
        self._numbers = itertools.count(1)
        self.up = True  # until a send fails: a first burst waits rather than drops
        self._wake: asyncio.Event | None = None
        self._empty: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    async def put(self, payloads: list[bytes]) -> None:
        """Queue encoded publish frames (client/wire.py); waits only for room
        while the hub is reachable."""
        if self._wake is None:
            self._wake, self._empty, self._room = asyncio.Event(), asyncio.Event(), asyncio.Event()
        assert self._empty is not None and self._room is not None
        queue = self._queue
        for payload in payloads:
            while len(queue) >= self.limit and self.up and self.failed is None:
                self._room.clear()
                self._start()
                await self._room.wait()
            if self.failed is not None:
                raise self.failed
            if len(queue) >= self.limit:
                queue.popleft()
                self.dropped += 1
            queue.append((next(self._numbers), payload))
        self._start()

    def _start(self) -> None:
        assert self._wake is not None and self._empty is not None
        self._empty.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def flush(self, timeout: float | None) -> int:
        """Wait until everything queued was sent (or the key refused), at most
        ``timeout`` seconds; how many messages are still unsent."""
        if self._queue and self.failed is None and self._empty is not None:
            try:
                await asyncio.wait_for(self._empty.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return len(self._queue)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def _state(self, up: bool) -> None:
        assert self._room is not None
        self.up = up
        self._room.set()  # room, or no longer worth waiting for

    async def _run(self) -> None:
        assert self._wake is not None and self._empty is not None
        queue = self._queue
        backoff = self.min_backoff
        while True:
            if not queue:
                self._empty.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = next_batch(queue)
            last = batch[-1][0]
            try:
                await self.sender.send_batch([payload for _, payload in batch], last)
            except BatchRefused as exc:
                # Sending it again would be refused again: drop it, say so.
                log.error("%s: %d messages not published", exc, len(batch))
                while queue and queue[0][0] <= last:
                    queue.popleft()
                    self.refused += 1
                self._state(True)
                continue
            except AuthError as exc:
                self.failed = exc
                self._empty.set()  # nothing more will be sent: flush() need not wait
                self._state(False)  # the next put() or flush() raises it
                return
            except ClientError as exc:
                if self.up:
                    log.warning("%s; queueing up to %d messages, reconnecting", exc, self.limit)
                self._state(False)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            # Messages dropped meanwhile went from the front: pop up to the last sent.
            while queue and queue[0][0] <= last:
                queue.popleft()
                self.sent += 1
            if not self.up:
                log.warning("the hub is reachable again; %d messages still queued", len(queue))
            self._state(True)
            backoff = self.min_backoff


def next_batch(queue: deque[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    batch: list[tuple[int, bytes]] = []
    size = 0
    for item in itertools.islice(queue, BATCH):
        size += len(item[1])
        if batch and size > BATCH_BYTES:
            break
        batch.append(item)
    return batch


def batch_frame(payloads: list[bytes], request_id: Any) -> bytes:
    """One frame of ``payloads`` (publish frames), the last one with ``id``."""
    last = payloads[-1]
    tagged = b'{"id":' + str(request_id).encode() + b"," + last[1:]
    return b"[" + b",".join([*payloads[:-1], tagged]) + b"]"
