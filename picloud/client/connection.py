"""The client's connection to a hub: opening websockets with the key and the
client name, and everything that needs no subscription: publishing (over a
``/publish`` websocket opened on first use and reopened when found closed, or
one HTTP POST), and reading ``/info``. picloud.aclient builds the
subscriptions on top.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Callable
from urllib.parse import urlencode

import ujson
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    websocket_connect,
)

from ..exceptions import ClientError, HubUnreachable
from .wire import DEFAULT_URL, hub_urls, publish_payload, reason_of, refusal, unreachable

log = logging.getLogger("picloud.client")


class HubConnection:
    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        client_name: str = "picloud-client",
        *,
        timeout: float = 10.0,
        ping_interval: float = 20.0,
        verify: bool = True,
        ca_file: str | None = None,
        validate_cert: bool | None = None,
    ) -> None:
        """``verify=False`` accepts any certificate (a LAN hub's self-signed
        one, when you trust the network); ``ca_file`` is a PEM file of the
        certificates to trust instead of the system's (``validate_cert`` is
        the old name of ``verify``)."""
        self.http_url, self.ws_url = hub_urls(url)
        self.api_key = api_key
        self.client_name = client_name
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.validate_cert = verify if validate_cert is None else validate_cert
        self.ca_file = ca_file
        self._pub: WebSocketClientConnection | None = None
        self._pub_lock: asyncio.Lock | None = None

    async def _open(self, path: str, params: dict[str, str] | None = None,
                    on_message: Callable[[Any], None] | None = None) -> WebSocketClientConnection:
        query = urlencode({"clientName": self.client_name, **(params or {})})
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        request = HTTPRequest(
            f"{self.ws_url}{path}?{query}", headers=headers, connect_timeout=self.timeout,
            request_timeout=self.timeout, validate_cert=self.validate_cert, ca_certs=self.ca_file,
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
            raise unreachable(self.http_url, exc) from None

    async def publish(self, event: str, data: Any = None, *, retain: bool = False) -> None:
        """Send one message; raises HubUnreachable if no hub takes it now."""
        await self.publish_many([(event, data)], retain=retain)

    async def publish_many(self, messages: Iterable[tuple[str, Any]], *, retain: bool = False) -> int:
        """Send ``(event, data)`` pairs, one frame each, waiting once for them all.

        Returns how many were sent. Every message is checked before any is sent.
        """
        payloads = [publish_payload(event, data, retain) for event, data in messages]
        for attempt in (1, 2):
            conn = await self._publish_socket()
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

    async def _publish_socket(self) -> WebSocketClientConnection:
        if self._pub_lock is None:
            self._pub_lock = asyncio.Lock()  # made in the loop, for Python 3.9
        async with self._pub_lock:
            conn = self._pub
            if conn is None or conn.protocol is None or conn.protocol.is_closing():
                conn = self._pub = await self._open("/publish", on_message=self._on_publish_reply)
        return conn

    async def open_link(self, on_reply: Callable[[dict[str, Any]], None]) -> PublishLink:
        """A publish socket of its own for the outbox (client/outbox.py): its
        replies go to ``on_reply``, its close to ``link.closed``."""
        link = PublishLink(on_reply)
        link.conn = await self._open("/publish", {"protocol": "2"}, on_message=link.on_message)
        return link

    def _on_publish_reply(self, text: str | bytes | None) -> None:
        """The publish socket of publish()/publish_many(): only error replies."""
        if text is None:
            return
        try:
            frame = ujson.loads(text)
        except ValueError:
            return
        if isinstance(frame, dict) and frame.get("action") == "error":
            log.warning("the hub refused a request: %s", frame.get("error"))

    async def publish_http(self, event: str, data: Any = None, *, retain: bool = False) -> None:
        """POST one message to ``/publish``; no connection is kept."""
        payload = publish_payload(event, data, retain)
        headers = {"Content-Type": "application/json", "X-API-Client-Name": self.client_name}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        request = HTTPRequest(
            f"{self.http_url}/publish", method="POST", body=payload, headers=headers,
            connect_timeout=self.timeout, request_timeout=self.timeout, validate_cert=self.validate_cert,
            ca_certs=self.ca_file,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, StreamClosedError, HTTPClientError) as exc:  # a timeout is raised all the same
            raise unreachable(self.http_url, exc) from None
        if response.code != 201:
            reason = reason_of(response.error) if response.error else response.reason
            raise refusal(self.http_url, response.code, response.body, reason, bool(self.api_key))

    async def get(self, path: str, query: dict[str, str]) -> bytes:
        """The body of ``GET path?query`` (a 200), or the hub's refusal raised."""
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        request = HTTPRequest(
            f"{self.http_url}{path}?{urlencode(query)}", headers=headers, connect_timeout=self.timeout,
            request_timeout=self.timeout, validate_cert=self.validate_cert, ca_certs=self.ca_file,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, StreamClosedError, HTTPClientError) as exc:
            raise unreachable(self.http_url, exc) from None
        if response.code != 200:
            reason = reason_of(response.error) if response.error else response.reason
            raise refusal(self.http_url, response.code, response.body, reason, bool(self.api_key))
        return bytes(response.body)

    async def readings(self, event: str, since: str = "-24h", until: str = "now", step: str | None = None,
                       csv: bool = False) -> Any:
        """``GET /readings``: the event's recorded series as a dict (the CSV text with ``csv``)."""
        query = {"event": event, "from": since, "to": until}
        if step is not None:
            query["step"] = step
        if csv:
            query["format"] = "csv"
            return (await self.get("/readings", query)).decode("utf-8")
        return ujson.loads(await self.get("/readings", query))

    # -- info ---------------------------------------------------------------------

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
        if self._pub is not None:
            self._pub.close()
            self._pub = None


class PublishLink:
    """One publish socket of the outbox: its replies, and when it closed."""

    def __init__(self, on_reply: Callable[[dict[str, Any]], None]) -> None:
        self.on_reply = on_reply
        self.conn: WebSocketClientConnection | None = None
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def on_message(self, text: str | bytes | None) -> None:
        if text is None:
            self._closed()
            return
        try:
            frame = ujson.loads(text)
        except ValueError:
            return
        if isinstance(frame, dict):
            self.on_reply(frame)

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        try:
            self.conn.write_message(payload).add_done_callback(lambda f: f.cancelled() or f.exception())
        except WebSocketClosedError:
            self._closed()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self._closed()

    def _closed(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None if self.conn is None else self.conn.close_code)
