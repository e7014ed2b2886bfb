"""MQTT over WebSocket at ``/mqtt`` on the hub's HTTP port, for MQTT.js and
other browser clients: subprotocols ``mqtt`` and ``mqttv3.1``, MQTT's bytes
in binary frames, packets spanning or sharing frames.

This is the one route where the key is not checked before the upgrade:
MQTT clients send it in CONNECT. An ``apiKey`` in the URL is checked first
if there is one (401 before the upgrade, and the key for CONNECT); otherwise
CONNECT must come within ``--handshake-timeout`` and its password is checked
as on TCP, the connection counting against ``--max-pending`` until then (it
is admitted again once upgraded: the HTTP server lets go of it then), and
what it sends counting in ``--max-total-inbound-bytes`` (the hub's own frame
reader, server/reader.py, as on every websocket route).
The origin rules apply as on every route. Once in, a connection is the MQTT
listener's like any other: sessions, limits, wills.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado.websocket import WebSocketHandler

from ...hub.limits import AUTH_FAIL_WINDOW, ByteBudget
from ...wire.frames import BINARY, encode_frame
from ..access import Refused, peer_address, query_arg, throttled_address
from ..logs import WithholdsQuery
from ..reader import ReaderMixin
from ..state import HubState
from .connection import MqttConnection

log = logging.getLogger("picloud.mqtt")

SUBPROTOCOLS = ("mqtt", "mqttv3.1")


def binary_frame(data: bytes) -> bytes:
    return encode_frame(data, BINARY)


class WebSocketMqttConnection(MqttConnection):
    """An MQTT connection whose bytes come and go in websocket frames."""

    def __init__(self, listener: Any, handler: MqttOverWebSocket, stream: Any, address: str) -> None:
        super().__init__(listener, stream, address)
        self.host = handler.request.remote_ip or ""
        # The device's, or None for a proxy's own request (access.py): never
        # what a client may claim in a header (a forwarded 127.0.0.1).
        self._throttled = throttled_address(handler.request, self.state.config.xheaders)
        self.handler = handler
        self._wrap = binary_frame
        self.begin()

    def throttled_address(self) -> str | None:
        return self._throttled

    def close_transport(self) -> None:
        self.handler.close(1000)


class MqttOverWebSocket(WithholdsQuery, ReaderMixin, WebSocketHandler):
    conn: WebSocketMqttConnection | None = None
    routine = True  # its 101 at debug level, as a HubSocket's: CONNECT's line names the client

    def initialize(self, state: HubState) -> None:
        self.state = state

    def prepare(self) -> None:
        state = self.state
        listener = state.mqtt_listener
        if listener is None or not listener.serving:
            raise Refused(404, "mqtt is off on this hub")
        request = self.request
        if not state.origins.allows(request.headers.get("Origin"), request.host):
            raise Refused(403, "origin not allowed")
        key = query_arg(request, "apiKey")
        if key is not None:
            throttle = state.throttle
            address = throttled_address(request, state.config.xheaders)
            if address is not None and throttle.blocked(address):
                state.errors["auth"] += 1
                raise Refused(429, "too many wrong keys from this address: try again later")
            if state.auth.grant_of(key) is None:
                state.errors["auth"] += 1
                if address is not None and throttle.failed(address):
                    log.warning("blocking %s for %gs after %d wrong keys in %gs",
                                address, throttle.block, throttle.limit, AUTH_FAIL_WINDOW)
                raise Refused(401, "invalid api key")
        if listener.count() >= state.config.max_connections:
            raise Refused(503, f"too many connections (limit {state.config.max_connections})")

    def check_origin(self, origin: str) -> bool:
        return True  # checked in prepare(), with the hub's --allowed-origin rules

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        for name in SUBPROTOCOLS:
            if name in subprotocols:
                return name
        return None

    @property
    def max_message_size(self) -> int:
        # A frame may hold a largest packet and more besides; the MQTT parser
        # holds each packet to --max-message-bytes.
        return self.state.config.max_message_bytes + 65536

    @property
    def inbound_budget(self) -> ByteBudget:
        """What all connections may hold of messages not yet complete (server/reader.py)."""
        return self.state.inbound

    def get_compression_options(self) -> None:
        return None

    def open(self, *args: Any, **kwargs: Any) -> None:
        state = self.state
        listener = state.mqtt_listener
        assert self.ws_connection is not None
        stream: Any = self.ws_connection.stream
        # Pending until CONNECT, under a key of its own: the HTTP server lets
        # go of the stream's (it settles it as the upgrade detaches it).
        state.pending.settle(stream)
        if not state.pending.admit(self, self.request.remote_ip or ""):
            self.close(1013)
            return
        conn = self.conn = WebSocketMqttConnection(listener, self, stream, peer_address(self.request))
        conn.pending_key = self
        conn.query_key = query_arg(self.request, "apiKey")
        conn.start_queue(self.state.outbox, stream)
        listener.connections.add(conn)

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        conn = self.conn
        if conn is None or conn.closed:
            return None
        if isinstance(message, str):
            log.info("closing mqtt %s: a text frame (mqtt goes in binary frames)", conn.describe())
            conn.close()
            return None
        return conn.received(message)

    def on_close(self) -> None:
        if self.conn is not None:
            self.conn.close()
