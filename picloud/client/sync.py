"""The PiCloud client for plain scripts: no asyncio knowledge needed.

    from picloud.client import Client

    client = Client("http://pi.local:9000", api_key, "garden-pi")
    client.publish("temperature", 21.5)   # queued: the hub may be away

    def on_led(message):
        led.value = message.data == "on"

    client.subscribe("led", on_led)
    client.run_forever()       # or: for message in client: ...

The network runs on a private event loop in a background thread (see
picloud.client.aio, the asyncio client underneath: reconnects with backoff and
resubscribes by itself). Callbacks run in the thread that calls
``run_forever()``, never in that background thread, so a GPIO script needs
no locks. After a reconnect the client resumes each event from the last
message it saw; when the hub says it could not (it restarted without its
history, or no longer keeps what was missed), ``on_gap(gap)`` runs in that
same thread (a ``Gap``: event, the position asked for, the hub's epoch and
seq), after a warning in the log. ``publish_http()`` at module level posts one message without any
thread or connection, for cron jobs.

``publish`` queues (client/outbox.py): while the hub is away, up to
``queue`` messages (1000) wait and are sent once it is back, the oldest
dropped past that (``dropped`` counts them); ``flush(timeout)`` waits for the
queue, and ``close()`` flushes for up to ``timeout`` seconds. ``queue=0``
sends each message at once and raises HubUnreachable when no hub takes it.

Settings not passed fall back to PICLOUD_URL, PICLOUD_API_KEY (or API_KEY) and
PICLOUD_CLIENT_NAME.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from queue import Empty, Queue
from typing import Any, Callable

from ..exceptions import AuthError, ClientError, HubUnreachable
from .aio import AsyncClient
from .outbox import Outbox
from .wire import DEFAULT_URL, Gap, Message, Position, hub_urls, publish_payload, refusal

__all__ = ["AuthError", "Client", "ClientError", "Gap", "HubUnreachable", "Message", "publish_http"]

log = logging.getLogger("picloud.client")

_CLOSED = object()
DEFAULT_QUEUE = 1000  # messages kept while the hub is away, as picloud.js does
PUBLISH_BACKOFF = 5.0


def _settings(url: str | None, api_key: str | None, client_name: str | None) -> tuple[str, str | None, str]:
    env = os.environ
    url = url or env.get("PICLOUD_URL") or DEFAULT_URL
    if api_key is None:
        api_key = env.get("PICLOUD_API_KEY") or env.get("API_KEY") or None
    client_name = client_name or env.get("PICLOUD_CLIENT_NAME") or socket.gethostname()
    return url, api_key, client_name


class Client:
    def __init__(self, url: str | None = None, api_key: str | None = None,
                 client_name: str | None = None, *, on_gap: Callable[[Gap], Any] | None = None,
                 queue: int = DEFAULT_QUEUE, **options: Any) -> None:
        """``options`` are AsyncClient's: timeout, min_backoff, max_backoff, ..."""
        url, api_key, client_name = _settings(url, api_key, client_name)
        self.on_gap = on_gap
        self._inbox: Queue[Any] = Queue()
        self._callbacks: dict[str, list[Callable[[Message], Any]]] = {}
        self._async = AsyncClient(url, api_key, client_name, sink=self._inbox.put, **options)
        # Reconnecting to publish waits at most PUBLISH_BACKOFF between tries
        # (a queue of readings should go soon after the hub is back), and at
        # least what min_backoff asks.
        self._outbox = None if queue <= 0 else Outbox(
            self._async, queue, options.get("min_backoff", 0.1),
            max(options.get("min_backoff", 0.1), min(options.get("max_backoff", PUBLISH_BACKOFF), PUBLISH_BACKOFF)),
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="picloud-client", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        return self._async.http_url

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        if self._closed:
            coro.close()
            raise ClientError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def connect(self) -> None:
        """Connect now, raising AuthError or HubUnreachable instead of retrying."""
        self._call(self._async.connect())

    def publish(self, event: str, data: Any = None, *, retain: bool = False) -> None:
        """Queue one message for the publish websocket (opened on first use);
        with ``queue=0``, send it now. Raises ValueError for a bad event or
        data, AuthError once the hub refused the key."""
        self.publish_many([(event, data)], retain=retain)

    def publish_many(self, messages: Iterable[tuple[str, Any]], *, retain: bool = False) -> int:
        """Queue ``(event, data)`` pairs (far faster than one publish each);
        how many were queued (or, with ``queue=0``, sent)."""
        if self._outbox is None:
            return self._call(self._async.publish_many(messages, retain=retain))
        payloads = [publish_payload(event, data, retain) for event, data in messages]
        self._call(self._outbox.put(payloads))
        return len(payloads)

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every queued message was sent, at most ``timeout``
        seconds; how many are still unsent."""
        if self._outbox is None:
            return 0
        unsent: int = self._call(self._outbox.flush(timeout))
        if self._outbox.failed is not None:
            raise self._outbox.failed
        return unsent

    @property
    def dropped(self) -> int:
        """Queued messages dropped, oldest first, while the hub was away too long."""
        return 0 if self._outbox is None else self._outbox.dropped

    @property
    def queued(self) -> int:
        return 0 if self._outbox is None else len(self._outbox)

    @property
    def refused(self) -> int:
        """Queued messages the hub answered with an error (never sent again)."""
        return 0 if self._outbox is None else self._outbox.refused

    def publish_http(self, event: str, data: Any = None, *, retain: bool = False) -> None:
        self._call(self._async.publish_http(event, data, retain=retain))

    def subscribe(self, event: str, callback: Callable[[Message], Any] | None = None, *,
                  since: Position | None = None) -> None:
        """Receive ``event``: ``callback(message)`` runs inside ``run_forever()``;
        without a callback the messages come out of iteration."""
        self._call(self._async.subscribe(event, since=since))
        if callback is not None:
            self._callbacks.setdefault(event, []).append(callback)

    def unsubscribe(self, event: str) -> None:
        self._callbacks.pop(event, None)
        self._call(self._async.unsubscribe(event))

    def info(self) -> dict[str, Any]:
        return self._call(self._async.info())

    def readings(self, event: str, since: str = "-24h", until: str = "now", step: str | None = None,
                 csv: bool = False) -> Any:
        """What the hub recorded of ``event`` (``GET /readings``)."""
        return self._call(self._async.readings(event, since, until, step, csv))

    def receive(self, timeout: float | None = None) -> Message:
        """The next message; raises TimeoutError, or AuthError if the key was refused.

        A gap reported meanwhile goes to ``on_gap``, here, in the caller's thread.
        """
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                item = self._inbox.get(timeout=None if end is None else max(0.0, end - time.monotonic()))
            except Empty:
                raise TimeoutError(f"no message within {timeout}s") from None
            if item is _CLOSED:
                self._inbox.put(item)
                raise ClientError("the client is closed")
            if isinstance(item, BaseException):
                raise item
            if not isinstance(item, Gap):
                return item
            if self.on_gap is not None:
                try:
                    self.on_gap(item)
                except Exception:
                    log.exception("on_gap failed for %r", item.event)

    def __iter__(self) -> Iterator[Message]:
        while True:
            try:
                yield self.receive()
            except ClientError as exc:
                if self._closed and not isinstance(exc, (AuthError, HubUnreachable)):
                    return
                raise

    def run_forever(self) -> None:
        """Call the callbacks of each message as it comes, until close() or Ctrl-C."""
        try:
            for message in self:
                for callback in self._callbacks.get(message.event, ()):
                    try:
                        callback(message)
                    except Exception:
                        log.exception("callback for %r failed", message.event)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self, flush: float | None = None) -> None:
        """Close, after up to ``flush`` seconds (default: ``timeout``) for what is queued."""
        if self._closed:
            return
        try:
            if self._outbox is not None:
                wait = self._async.timeout if flush is None else flush
                unsent = self._call(self._outbox.flush(wait))
                if unsent and wait and self._outbox.failed is None:  # else the caller was told why
                    log.warning("closing with %d messages not sent to %s", unsent, self.url)
                self._call(self._outbox.close(), timeout=5)
            self._call(self._async.close(), timeout=5)
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout=5)
            self._inbox.put(_CLOSED)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_http(event: str, data: Any = None, *, url: str | None = None, api_key: str | None = None,
                 client_name: str | None = None, retain: bool = False, timeout: float = 10.0,
                 verify: bool = True, ca_file: str | None = None) -> None:
    """POST one message and return once the hub accepted it (HTTP 201);
    ``verify`` and ``ca_file`` as for Client."""
    url, api_key, client_name = _settings(url, api_key, client_name)
    base, _ = hub_urls(url)
    headers = {"Content-Type": "application/json", "X-API-Client-Name": client_name}
    if api_key:
        headers["X-API-Key"] = api_key
    request = urllib.request.Request(
        f"{base}/publish", data=publish_payload(event, data, retain), headers=headers, method="POST"
    )
    context = None
    if base.startswith("https:"):
        context = ssl.create_default_context(cafile=ca_file)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            code, body = response.status, b""
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise refusal(base, 599, None, str(getattr(reason, "strerror", None) or reason)) from None
    if code != 201:
        raise refusal(base, code, body, "", bool(api_key))
