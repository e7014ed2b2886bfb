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
no history ignores it. Publishing uses a second websocket (``/publish``),
opened on first use and reopened when found closed; ``publish_http`` posts
instead, for one-shot scripts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Union
from urllib.parse import urlencode, urlsplit

import ujson
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    websocket_connect,
)

from .exceptions import AuthError, ClientError, HubUnreachable
from .protocol import dumps, validate_event

log = logging.getLogger("picloud.client")

DEFAULT_URL = "http://localhost:9000"
Callback = Callable[["Message"], Any]
Position = tuple[int, Union[str, None]]


@dataclass(frozen=True)
class Message:
    """One delivered message; ``frame`` is the publish frame as received."""

    event: str
    data: Any
    created_at: str | None = None
    seq: int | None = None
    epoch: str | None = None
    frame: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: dict) -> Message:
        seq = frame.get("seq")
        epoch = frame.get("epoch")
        return cls(
            frame["event"], frame.get("data"), frame.get("created_at"),
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            None if epoch is None else str(epoch), frame,
        )


def hub_urls(url: str) -> tuple[str, str]:
    """``(http_base, ws_base)`` for a hub given as http(s)://, ws(s):// or host:port."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"http": "http", "ws": "http", "https": "https", "wss": "https"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"unsupported url scheme {parts.scheme!r} (use http, https, ws or wss)")
    if not parts.netloc:
        raise ValueError(f"no host in url {url!r}")
    base = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return base, "ws" + base[4:]


def publish_payload(event: str, data: Any = None, retain: bool = False) -> bytes:
    """The publish frame, checked here so a bad message fails at the caller."""
    frame: dict[str, Any] = {"event": validate_event(event), "data": data}
    if retain:
        frame["retain"] = True
    return dumps(frame)


def refusal(url: str, code: int, body: bytes | None, reason: str = "", has_key: bool = True) -> ClientError:
    """The exception for a hub's non-success HTTP answer (599: no answer)."""
    if code == 599:
        return HubUnreachable(f"cannot reach the hub at {url}: {reason or 'no answer'}".lower())
    try:
        message = ujson.loads(body or b"{}").get("error") or ""
    except (ValueError, AttributeError):
        message = ""
    if code == 401:
        hint = "" if has_key else " (no api key given: use --api-key or PICLOUD_API_KEY)"
        return AuthError(f"the hub at {url} refused the api key: {message or 'unauthorized'}{hint}")
    return ClientError(f"the hub at {url} answered {code}: {message or reason or 'error'}")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class AsyncClient:
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
        validate_cert: bool = True,
        sink: Callable[[Any], None] | None = None,
    ) -> None:
        self.http_url, self.ws_url = hub_urls(url)
        self.api_key = api_key
        self.client_name = client_name
        self.timeout = timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.ping_interval = ping_interval
        self.validate_cert = validate_cert
        # With a sink (the sync Client), every message and the fatal error
        # go there; otherwise to callbacks, or else to the iteration queue.
        self._sink = sink
        self._events: dict[str, None] = {}
        self._callbacks: dict[str, list[Callback]] = {}
        self._positions: dict[str, Position] = {}
        self._sub: WebSocketClientConnection | None = None
        self._pub: WebSocketClientConnection | None = None
        self._task: asyncio.Future | None = None
        self._closing = False
        self._started = False

    def _setup(self) -> None:
        # Created on first use, inside the loop (Python 3.9 binds them at creation).
        if not self._started:
            self._started = True
            self._ready = asyncio.Event()
            self._pub_lock = asyncio.Lock()
            self._queue: asyncio.Queue = asyncio.Queue()

    # -- connections -------------------------------------------------------------

    async def _open(self, path: str, params: dict[str, str] | None = None,
                    on_message: Callable[[Any], None] | None = None) -> WebSocketClientConnection:
        query = urlencode({"clientName": self.client_name, **(params or {})})
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        request = HTTPRequest(
            f"{self.ws_url}{path}?{query}", headers=headers, connect_timeout=self.timeout,
            request_timeout=self.timeout, validate_cert=self.validate_cert,
        )
        try:
            return await websocket_connect(
                request, on_message_callback=on_message, ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval, max_message_size=64 << 20,
            )
        except HTTPClientError as exc:
            body = exc.response.body if exc.response is not None else None
            raise refusal(self.http_url, exc.code, body, exc.message or "", bool(self.api_key)) from None
        except WebSocketError as exc:
            raise ClientError(f"{self.http_url} did not accept a websocket ({exc})") from None
        except (OSError, StreamClosedError, asyncio.TimeoutError) as exc:
            raise HubUnreachable(f"cannot reach the hub at {self.http_url}: {_reason(exc)}".lower()) from None

    async def connect(self) -> None:
        """Open the subscription socket now, raising AuthError or HubUnreachable.

        Without it, ``subscribe`` starts connecting in the background and keeps
        retrying, which is what a device booting before its network wants.
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
        position = self._positions.get(event)
        if position is not None:
            seq, epoch = position
            frame["since"] = {"seq": seq} if epoch is None else {"seq": seq, "epoch": epoch}
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
            if message.seq is not None:
                self._positions[message.event] = (message.seq, message.epoch)
            self._dispatch(message)
        elif action == "error":
            log.warning("the hub refused a request: %s", frame.get("error"))
        else:
            log.debug("ignoring %r frame", action)

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
            self._positions[event] = since
        if event not in self._events:
            self._events[event] = None
            if self._sub is not None:
                self._send_subscribe(self._sub, event)
        if self._task is None:
            self._start()

    async def unsubscribe(self, event: str) -> None:
        self._callbacks.pop(event, None)
        self._positions.pop(event, None)
        if self._events.pop(event, 0) is None and self._sub is not None:
            _write(self._sub, dumps({"action": "unsubscribe", "event": event}))

    async def run_forever(self) -> None:
        """Serve callbacks until ``close()``; raises AuthError if the key is refused."""
        self._setup()
        if self._task is None:
            self._start()
        try:
            await self._task
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

    # -- publishing -------------------------------------------------------------------

    async def publish(self, event: str, data: Any = None, *, retain: bool = False) -> None:
        """Send one message; raises HubUnreachable if no hub takes it now."""
        await self.publish_many([(event, data)], retain=retain)

    async def publish_many(self, messages: Iterable[tuple[str, Any]], *, retain: bool = False) -> int:
        """Send ``(event, data)`` pairs, one frame each, waiting once for them all.

        Returns how many were sent. Every message is checked before any is sent.
        """
        payloads = [publish_payload(event, data, retain) for event, data in messages]
        self._setup()
        for attempt in (1, 2):
            async with self._pub_lock:
                conn = self._pub
                if conn is None or conn.protocol is None or conn.protocol.is_closing():
                    conn = self._pub = await self._open("/publish", on_message=self._on_publish_reply)
            futures: list[Any] = []
            try:
                for payload in payloads:
                    futures.append(conn.write_message(payload))
                await asyncio.gather(*futures)
                return len(payloads)
            except (WebSocketClosedError, StreamClosedError):
                self._pub = None
                written = sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)
                # The hub went away since the last publish (restart, Wi-Fi).
                # When nothing was written, a new connection may take it all.
                if written or attempt == 2:
                    raise HubUnreachable(
                        f"lost the connection to {self.http_url} after {written} of {len(payloads)} messages"
                    ) from None
        return 0  # not reached

    def _on_publish_reply(self, text: str | bytes | None) -> None:
        if text is not None:
            self._handle(text)

    async def publish_http(self, event: str, data: Any = None, *, retain: bool = False) -> None:
        """POST one message to ``/publish``; no connection is kept."""
        payload = publish_payload(event, data, retain)
        headers = {"Content-Type": "application/json", "X-API-Client-Name": self.client_name}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        request = HTTPRequest(
            f"{self.http_url}/publish", method="POST", body=payload, headers=headers,
            connect_timeout=self.timeout, request_timeout=self.timeout, validate_cert=self.validate_cert,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, StreamClosedError) as exc:
            raise HubUnreachable(f"cannot reach the hub at {self.http_url}: {_reason(exc)}".lower()) from None
        if response.code != 201:
            reason = _reason(response.error) if response.error else response.reason
            raise refusal(self.http_url, response.code, response.body, reason, bool(self.api_key))

    # -- info and closing ---------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        """The hub's current ``/info`` snapshot."""
        conn = await self._open("/info")
        try:
            text = await asyncio.wait_for(conn.read_message(), self.timeout)
        except asyncio.TimeoutError:
            raise HubUnreachable(f"the hub at {self.http_url} sent no info in {self.timeout}s") from None
        finally:
            conn.close()
        if text is None:
            raise ClientError(f"the hub at {self.http_url} closed /info without a snapshot")
        return ujson.loads(text)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        for conn in (self._sub, self._pub):
            if conn is not None:
                conn.close()
        self._sub = self._pub = None
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


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("callback failed", exc_info=future.exception())
