"""The asyncio client, for Tornado and asyncio programs (picloud.client wraps it
for plain scripts)::

    client = AsyncClient("http://pi.local:9000", api_key, "kitchen-pi")
    await client.subscribe("temperature", on_temperature)
    await client.publish("led", "on")
    await client.run_forever()

Subscriptions live on one ``/subscribe`` websocket. When it drops, the client
reopens it with exponential backoff (with jitter, so that a restarted hub is
not met by every device in the same instant) and subscribes again. Publish
frames that carried ``seq``/``epoch`` are remembered per event, and a
resubscription then asks for what was missed with ``since``; a hub that keeps
no history ignores it. A message at or below the remembered position (same
epoch) is dropped, so a replay never repeats one. When the hub answers that
it could not resume (``"recovered": false``: it restarted without its
history, or no longer keeps the messages), the client logs a warning and
calls ``on_gap(Gap)``; what the hub still keeps arrives anyway. Publishing uses a second websocket (``/publish``),
opened on first use and reopened when found closed; ``publish_http`` posts
instead, for one-shot scripts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from typing import Any, Callable

import ujson
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError

from ..exceptions import AuthError, ClientError
from ..wire.codec import dumps, validate_event
from .connection import HubConnection
from .wire import DEFAULT_URL, Gap, Message, Position, Positions

log = logging.getLogger("picloud.client")

Callback = Callable[["Message"], Any]


class AsyncClient(HubConnection):
    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        client_name: str = "picloud-client",
        *,
        timeout: float = 10.0,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        ping_interval: float = 20.0,
        verify: bool = True,
        ca_file: str | None = None,
        validate_cert: bool | None = None,
        sink: Callable[[Any], None] | None = None,
        on_gap: Callable[[Gap], Any] | None = None,
    ) -> None:
        super().__init__(url, api_key, client_name, timeout=timeout, ping_interval=ping_interval,
                         verify=verify, ca_file=ca_file, validate_cert=validate_cert)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        # With a sink (the sync Client), every message and the fatal error
        # go there; otherwise to callbacks, or else to the iteration queue.
        self._sink = sink
        self.on_gap = on_gap
        self._events: dict[str, None] = {}
        self._callbacks: dict[str, list[Callback]] = {}
        self._positions = Positions()
        self._sub: WebSocketClientConnection | None = None
        self._task: asyncio.Future[None] | None = None
        self._closing = False
        self._started = False
        self._restart_seen: str | None = None  # the new epoch already logged

    def _setup(self) -> None:
        # Created on first use, inside the loop (Python 3.9 binds them at creation).
        if not self._started:
            self._started = True
            self._ready = asyncio.Event()
            self._queue: asyncio.Queue[Any] = asyncio.Queue()

    async def connect(self) -> None:
        """Open the subscription socket now, raising AuthError or HubUnreachable.

        Without it, ``subscribe`` starts connecting in the background and keeps
        retrying, which is what a device booting before its network wants; once
        that has started, this waits for it.
        """
        self._setup()
        if self._task is None:
            conn = await self._open("/subscribe", {"protocol": "2"})
            self._start(conn)
        await self._ready.wait()

    def _start(self, conn: WebSocketClientConnection | None = None) -> None:
        self._task = asyncio.ensure_future(self._subscriber(conn))
        # A refused key also reaches the sink or the queue, so nobody has to
        # await the task for it to count as seen.
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _subscriber(self, conn: WebSocketClientConnection | None = None) -> None:
        delay = self.min_backoff
        try:
            while not self._closing:
                if conn is None:
                    try:
                        conn = await self._open("/subscribe", {"protocol": "2"})
                    except AuthError:
                        raise
                    except ClientError as exc:
                        wait = delay * (0.5 + random.random())
                        log.warning("%s; retrying in %.1fs", exc, wait)
                        await asyncio.sleep(wait)
                        delay = min(delay * 2, self.max_backoff)
                        continue
                opened = time.monotonic()
                self._sub = conn
                for event in self._events:
                    self._send_subscribe(conn, event)
                self._ready.set()
                while True:
                    text = await conn.read_message()
                    if text is None:
                        break
                    self._handle(text)
                self._sub = None
                self._ready.clear()
                if self._closing:
                    break
                log.warning("lost the connection to %s (close code %s); reconnecting",
                            self.http_url, conn.close_code)
                conn = None
                # A hub that accepts and at once closes (shutting down, or
                # refusing a slow consumer) must not be hammered either.
                if time.monotonic() - opened < 5:
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, self.max_backoff)
                else:
                    delay = self.min_backoff
        except AuthError as exc:
            log.error("%s", exc)
            self._emit(exc)
            raise

    def _send_subscribe(self, conn: WebSocketClientConnection, event: str) -> None:
        frame: dict[str, Any] = {"action": "subscribe", "event": event}
        since = self._positions.since(event)
        if since is not None:
            frame["since"] = since
        _write(conn, dumps(frame))

    def _handle(self, text: str | bytes) -> None:
        try:
            frame = ujson.loads(text)
        except ValueError:
            log.warning("ignoring a frame that is not json: %.60r", text)
            return
        if not isinstance(frame, dict):
            return
        action = frame.get("action")
        if action == "publish" and isinstance(frame.get("event"), str):
            message = Message.from_frame(frame)
            if self._positions.fresh(message):
                self._dispatch(message)
            else:
                log.debug("dropping %r seq %s: delivered already", message.event, message.seq)
        elif action == "subscribed" and isinstance(frame.get("event"), str):
            self._confirmed(frame)
        elif action == "error":
            log.warning("the hub refused a request: %s", frame.get("error"))
        else:
            log.debug("ignoring %r frame", action)

    def _confirmed(self, frame: dict[str, Any]) -> None:
        gap = self._positions.confirmed(frame)
        if gap is None:
            return
        if gap.since[1] is not None and gap.epoch != gap.since[1]:
            # A hub that restarted without its history: every subscription
            # says so at once, and what it did not keep it never had. One line.
            if gap.epoch != self._restart_seen:
                self._restart_seen = gap.epoch
                log.info("the hub at %s restarted without its history (epoch %s, was %s): what was published "
                         "while it was away could not be resumed", self.http_url, gap.epoch, gap.since[1])
        else:
            log.warning("the hub at %s could not resume %r after seq %s of epoch %s: messages may be missing",
                        self.http_url, gap.event, gap.since[0], gap.since[1])
        if self._sink is not None:
            self._sink(gap)
        else:
            _call(self.on_gap, gap)

    def _dispatch(self, message: Message) -> None:
        if self._sink is not None:
            self._sink(message)
            return
        callbacks = self._callbacks.get(message.event)
        if not callbacks:
            self._queue.put_nowait(message)
            return
        for callback in callbacks:
            try:
                result = callback(message)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result).add_done_callback(_log_failure)
            except Exception:
                log.exception("callback for %r failed", message.event)

    def _emit(self, item: Any) -> None:
        if self._sink is not None:
            self._sink(item)
        else:
            self._queue.put_nowait(item)

    # -- subscribing ----------------------------------------------------------------

    async def subscribe(self, event: str, callback: Callback | None = None, *,
                        since: Position | None = None) -> None:
        """Receive ``event``: through ``callback(message)`` if given, else by iteration.

        ``since`` is ``(seq, epoch)``: ask a hub with history for what came after it.
        """
        validate_event(event)
        self._setup()
        if callback is not None:
            self._callbacks.setdefault(event, []).append(callback)
        if since is not None:
            self._positions.start(event, since)
        if event not in self._events:
            self._events[event] = None
            if self._sub is not None:
                self._send_subscribe(self._sub, event)
        if self._task is None:
            self._start()

    async def unsubscribe(self, event: str) -> None:
        self._callbacks.pop(event, None)
        self._positions.forget(event, self._events)
        if event in self._events:
            del self._events[event]
            if self._sub is not None:
                _write(self._sub, dumps({"action": "unsubscribe", "event": event}))

    async def run_forever(self) -> None:
        """Serve callbacks until ``close()``; raises AuthError if the key is refused."""
        self._setup()
        if self._task is None:
            self._start()
        task = self._task
        assert task is not None  # _start() made it
        try:
            await task
        except asyncio.CancelledError:
            if not self._closing:
                raise

    def __aiter__(self) -> AsyncClient:
        return self

    async def __anext__(self) -> Message:
        self._setup()
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    # -- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        await super().close()
        if self._started and self._sink is None:
            self._queue.put_nowait(None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _write(conn: WebSocketClientConnection, payload: bytes) -> None:
    """Write without waiting; a lost connection shows up on the read side."""
    try:
        conn.write_message(payload).add_done_callback(lambda f: f.exception())
    except WebSocketClosedError:
        pass


def _call(callback: Callable[[Any], Any] | None, item: Any) -> None:
    if callback is None:
        return
    try:
        result = callback(item)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result).add_done_callback(_log_failure)
    except Exception:
        log.exception("callback for %r failed", item)


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("callback failed", exc_info=future.exception())
