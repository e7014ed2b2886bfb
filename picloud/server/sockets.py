"""The websocket routes (``/subscribe``, ``/publish``, ``/info``): thin
adapters between sockets and the shared hub."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado.websocket import WebSocketHandler

from ..exceptions import ProtocolError
from ..hub.limits import ByteBudget, PublishRate
from ..hub.message import Message
from ..hub.subscribing import handle_request
from ..wire.codec import created_at_end, encode_error, publish_heads, stamp_now
from ..wire.requests import encode_reply, parse_publications, parse_subscribe_request
from ..wire.scan import scan_publish
from . import keepalive
from .access import AccessMixin, Refused, query_arg
from .outbox import ABORT_AFTER, QueuedSocket
from .reader import ReaderMixin
from .state import HubState

log = logging.getLogger("picloud.handlers")

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013


def has_room(state: HubState) -> bool:
    """Whether one more connection fits under --max-connections (websockets and MQTT)."""
    return len(state.sockets) + len(state.mqtt) < state.config.max_connections


class HubSocket(AccessMixin, QueuedSocket, ReaderMixin, WebSocketHandler):
    """What every PiCloud websocket shares: access checks and the outgoing queue."""

    listed = True  # shown in info's all_connections
    ping_outstanding = False
    missed_pings = 0
    answers_pings = False
    reads = True  # whether the client is known to read this socket (keepalive.py)
    # Its 101 is logged at debug level: the connect line that follows says
    # the same and more, and a house that reconnects writes every line of it.
    routine = True

    def prepare(self) -> None:
        self.check_access()
        if self.state.stopping:
            # A request that was on its way when the drain began: a socket
            # opened now would get no 1001 and be cut at exit.
            raise Refused(503, "the hub is shutting down")
        if not has_room(self.state):
            raise Refused(503, f"too many connections (limit {self.state.config.max_connections})")
        self.upgrading()

    def upgrading(self) -> None:
        """What the accepted upgrade request tells the socket besides its key
        (server/upgrade.py calls this too)."""
        self.answers_pings = query_arg(self.request, "protocol") == "2"

    def check_origin(self, origin: str) -> bool:
        # The API key is the capability and no cookie rides along, so a page
        # from any origin may connect (the existing browser clients do).
        return True

    def open(self, *args: Any, **kwargs: Any) -> None:
        try:
            self._register()
            self.opened()
        except Exception:
            # Tornado logs it and drops the connection, but nothing would
            # take it out of the hub's sockets (a slot held for good).
            self.on_close()
            raise

    def opened(self) -> None:
        """What a route does once the socket is registered (may raise)."""

    @property
    def inbound_budget(self) -> ByteBudget:
        """What all sockets may hold of messages not yet complete (server/reader.py)."""
        return self.state.inbound

    def _register(self) -> None:
        state = self.state
        self.address = self.peer_address()
        stream = self.ws_connection.stream if self.ws_connection is not None else None
        if stream is None:
            raise RuntimeError("websocket opened without a stream")
        self.start_queue(state.outbox, stream)
        state.sockets.add(self)
        state.pinger.start()
        if self.listed:
            state.pubsub.connect(self, self.client_name, self.address)
        if log.isEnabledFor(logging.INFO):  # describe() costs, and a reconnecting house calls it a lot
            log.info("connect %s %s", self.request.path, self.describe())

    def on_close(self) -> None:
        state = self.state
        self.stop_queue()
        state.pubsub.disconnect(self)
        state.forget(self)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "disconnect %s %s code=%s reason=%r",
                self.request.path, self.describe(), self.close_code, self.close_reason or "",
            )

    def on_pong(self, data: bytes) -> None:
        keepalive.on_pong(self)

    def abort(self) -> None:
        """Drop the connection at once, without a close handshake (dead peer)."""
        lost = getattr(self.ws_connection, "_lost", None)  # the hub's frame reader (reader.py)
        if lost is not None:
            # Out of the hub in this turn, not when the stream's close is
            # heard: a client that sees the connection end may ask /info at
            # once, and its upgrade may be served first (server/direct.py).
            lost()
        elif self._stream is not None:
            self._stream.close()

    def describe(self) -> str:
        name = f"{self.client_name!r} " if self.client_name else ""
        return f"{name}from {getattr(self, 'address', '?')}"

    def send_error_frame(self, error: ProtocolError) -> None:
        self.state.errors["protocol"] += 1
        extra: dict[str, Any] = {} if error.index is None else {"index": error.index}
        if error.id is not None:
            extra["id"] = error.id
        self.send_payload(encode_error(str(error), **extra))

    def close_slow(self) -> None:
        self.close(CLOSE_TRY_AGAIN_LATER, "slow consumer")
        stream = self._stream
        # A peer that stopped reading never completes the close handshake.
        stream.io_loop.call_later(ABORT_AFTER, stream.close)

    def close_gracefully(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Write what is queued, then the close frame."""
        self.flush_queue()
        self.close(code, reason or None)


class SubscribeSocket(HubSocket):
    action = "subscribe"
    protocol = 1  # 2 when the client opted in to newer frames (?protocol=2)

    def opened(self) -> None:
        if query_arg(self.request, "protocol") == "2":
            self.protocol = 2

    def on_message(self, message: str | bytes) -> None:
        try:
            request = parse_subscribe_request(message)
            reply = self.send_payload if self.protocol == 2 else None
            handle_request(self.state.pubsub, self, request, reply, self.permissions)
        except ProtocolError as exc:
            self.send_error_frame(exc)


class PublishSocket(HubSocket):
    action = "publish"
    rate: PublishRate | None = None
    reads = False  # the original clients never read it: pinged only with protocol=2

    def opened(self) -> None:
        # Here rather than in a constructor: server/upgrade.py builds a
        # handler without Tornado's constructors unless its class has its own.
        self._acks: set[asyncio.Future[None]] = set()  # pending acks of retained publishes
        rates = self.state.rates
        if rates is not None:
            self.rate = PublishRate(rates.rate, rates.bucket(self.key_fingerprint, self.client_name))

    def on_message(self, message: str | bytes) -> None:
        rate = self.rate
        if rate is not None and not rate.admit():
            if rate.exhausted:
                self.close_gracefully(1008, "publish rate exceeded")
            else:
                self.send_error_frame(rate.error())
            return
        parts = scan_publish(message, publish_heads, created_at_end(stamp_now())) if scan_publish is not None else None
        try:
            if parts is not None:  # the plain frame, taken whole by the C scanner (wire/scan.py)
                published = self.state.pubsub.publish_parts(parts, self.permissions)
            else:
                published = self.state.pubsub.publish_batch(parse_publications(message), self.permissions)
        except ProtocolError as exc:
            self.send_error_frame(exc)
            return
        if rate is not None and len(published) > 1:
            rate.bucket.charge(len(published) - 1)
        self._acknowledge(published)

    def on_messages(self, messages: list[str | bytes]) -> None:
        """Every message of one read (server/reader.py): one pass through the hub."""
        if self.rate is not None or len(messages) == 1:
            for message in messages:  # the rate is counted message by message
                self.on_message(message)
            return
        # The C scanner takes the plain frames whole (wire/scan.py); the rest is parsed.
        stamp = stamp_now()  # one created_at for the read, scanned or parsed
        if scan_publish is not None:
            end, heads = created_at_end(stamp), publish_heads
            batches: list[Any] = [scan_publish(message, heads, end) for message in messages]
        else:
            batches = [None] * len(messages)
        if None in batches:
            for index, parts in enumerate(batches):
                if parts is None:
                    try:
                        batches[index] = parse_publications(messages[index])
                    except ProtocolError as exc:
                        batches[index] = exc
        # Most readings have no id and are not retained: left out, nothing answers them.
        for outcome in self.state.pubsub.publish_each(batches, self.permissions, answered_only=True, stamp=stamp):
            if type(outcome) is list:
                self._acknowledge(outcome)
            else:
                self.send_error_frame(outcome)  # type: ignore[arg-type]  # a ProtocolError

    def _acknowledge(self, published: list[tuple[Message, Any]]) -> None:
        # The original clients never read this socket: only a frame with an
        # "id" gets an ack, and a retained one only once it is stored.
        for sent, request_id in published:
            if sent.not_retained is not None:  # delivered all the same
                self.send_payload(encode_error(sent.not_retained, id=request_id))
                continue
            if request_id is None:
                continue
            if sent.retain:
                # The wait is for the changes made so far: taken now, not
                # when the task first runs (a write may fail in between).
                stored = self.state.pubsub.stored()
                self._acks.add(asyncio.ensure_future(self._ack_when_stored(request_id, stored)))
            else:
                self.send_payload(encode_reply("ack", id=request_id))

    async def _ack_when_stored(self, request_id: Any, stored: asyncio.Future[None]) -> None:
        try:
            await stored
        except OSError as exc:
            self.send_payload(encode_error(str(exc), id=request_id))
        else:
            self.send_payload(encode_reply("ack", id=request_id))
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._acks.discard(task)


class InfoSocket(HubSocket):
    action = "info"
    shows_everything = True
    needs_client_name = False
    listed = False

    def opened(self) -> None:
        self.state.info.add(self)

    def on_close(self) -> None:
        self.state.info.discard(self)
        super().on_close()

    def on_message(self, message: str | bytes) -> None:
        """The info socket only pushes; what a client sends is ignored."""
