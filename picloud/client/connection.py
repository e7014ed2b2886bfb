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
from .outbox import BatchRefused, batch_frame
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
        # Batches sent by the outbox (client/outbox.py), by id, until acked.
        self._acks: dict[Any, asyncio.Future[None]] = {}

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

    async def send_batch(self, payloads: list[bytes], request_id: int) -> None:
        """Send publish frames as one batch and wait for the hub's ack of it.

        Raises HubUnreachable when the connection is lost (or the ack does not
        come) first, BatchRefused when the hub answers with an error."""
        conn = await self._publish_socket()
        acked = self._acks[request_id] = asyncio.get_running_loop().create_future()
        try:
            await conn.write_message(batch_frame(payloads, request_id))
            await asyncio.wait_for(asyncio.shield(acked), self.timeout)
        except (WebSocketClosedError, StreamClosedError):
            self._pub = None
            raise HubUnreachable(f"lost the connection to {self.http_url}") from None
        except asyncio.TimeoutError:
            self._pub = None
            conn.close()
            raise HubUnreachable(f"the hub at {self.http_url} did not acknowledge in {self.timeout}s") from None
        finally:
            self._acks.pop(request_id, None)

    def _on_publish_reply(self, text: str | bytes | None) -> None:
        if text is not None:
            self._publish_reply(text)
            return
        lost = HubUnreachable(f"lost the connection to {self.http_url}")
        for waiter in self._acks.values():
            if not waiter.done():
                waiter.set_exception(lost)

    def _publish_reply(self, text: str | bytes) -> None:
        """The publish socket receives acks of batches and error replies."""
        try:
            frame = ujson.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            return
        waiter = self._acks.get(frame.get("id"))
        if waiter is None and frame.get("action") == "error" and len(self._acks) == 1:
            # A batch refused for one of its other messages: the error carries
            # that one's id (none), and only one batch is ever waiting.
            (waiter,) = self._acks.values()
        if waiter is not None and not waiter.done():
            if frame.get("action") == "ack":
                waiter.set_result(None)
            elif frame.get("action") == "error":
                waiter.set_exception(BatchRefused(f"the hub refused a batch: {frame.get('error')}"))
            return
        if frame.get("action") == "error":
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
