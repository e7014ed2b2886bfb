"""One MQTT client's TCP connection: CONNECT, then packets until it goes.

The socket side only: the session (session.py) is what the hub delivers to,
and publishing goes through publishing.py. Outgoing bytes use the same
bounded, coalescing queue as the websockets (server/outbox.py), so the
slow-consumer policy and the hub-wide queue budget apply to MQTT too; a
burst the client asked for itself (the retained values of a new
subscription) is written as fast as the socket takes it instead, not counted
against it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError

from ...hub.keys import Grant
from ...hub.limits import TokenBucket
from ...hub.message import Message
from ...hub.rights import Permissions
from ...wire.mqtt import packets as p
from ...wire.mqtt.packets import MqttError, encode_publish
from ...wire.mqtt.parser import Parser
from ..outbox import QueuedSocket, _Framed
from ..takeover import READ_CHUNK
from .direct import DirectReading
from .handshake import handle_connect, hang_up, throttled
from .limits import charge_inbound, dispatch_paced
from .outgoing import qos0_publish
from .pacing import Paced
from .pool import UNNAMEABLE
from .proxied import unwrap_proxy_line
from .publishing import dispatch_all
from .session import Session

log = logging.getLogger("picloud.mqtt")


class MqttConnection(Paced, QueuedSocket, DirectReading):
    def __init__(self, listener: Any, stream: IOStream, address: Any) -> None:
        """``listener`` is the MqttListener (listener.py, which imports this module)."""
        self.listener = listener
        self.state = listener.state
        self.stream = stream
        self.pending_key: Any = stream  # as the listener admitted it (listener.py)
        self.address = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        self.host = address[0] if isinstance(address, tuple) else ""
        self.parser = Parser(self.state.config.max_message_bytes)
        self.session: Session | None = None
        self.connect: p.Connect | None = None
        self.key_fingerprint: bytes | None = None
        self.last_seen = time.monotonic()
        self.keepalive = 0
        self.graceful = False  # DISCONNECT came: no will
        self.bridge = False  # sent RETAIN as published (publishing.py)
        self.closed = False
        self.refused_publishes = 0
        self.grant: Grant | None = None
        self.permissions: Permissions | None = None
        self._paced: list[bytes] | None = None  # see module docstring
        # Whether a QoS 0 PUBLISH built for the message may go straight to the
        # queue (session.py's fan-out path): not while paced, never to a bridge.
        self.direct = True
        self._pacer: asyncio.Future[None] | None = None
        self._replaying = False  # inside a new subscription's replay: not counted
        self._paced_counted = 0  # bytes added to _paced outside a replay
        self._replayed = 0  # bytes added to _paced by the replay under way
        self._deadline: asyncio.TimerHandle | None = None  # the handshake timeout's
        self.bucket: TokenBucket | None = None  # under --publish-rate
        self.held = False  # not read for now: over its publish rate
        self._inbound = 0  # bytes charged to the hub's inbound budget
        self.query_key: str | None = None  # /mqtt's apiKey (websocket.py)
        self._proxy_line: bytes | None = b""  # until the first bytes show whether one comes first
        self._proxied = False  # the address is the one a PROXY line gave
        self.replays: asyncio.Future[None] | None = None  # held while it runs (publishing.py)

    # -- reading ---------------------------------------------------------------------

    def start(self) -> None:
        """Read from the socket (listener.py): by callbacks, as the websockets
        are read, not a task per connection (an idle one's memory counts)."""
        self.begin()
        self._read_next()

    def begin(self) -> None:
        """CONNECT must come within the handshake timeout."""
        # asyncio's own timer, not IOLoop.call_later: Tornado's wrapper and
        # remove_timeout (with IOLoop.current() each time) cost more per
        # connection than the timer itself.
        self._deadline = asyncio.get_running_loop().call_later(self.state.config.handshake_timeout,
                                                               self._no_connect)

    def _no_connect(self) -> None:
        self._deadline = None
        if self.connect is None and not self.closed:
            log.info("mqtt %s sent no CONNECT in time", self.address)
            self.graceful = True
            self.close()

    def _read_next(self) -> None:
        if self.closed or self.read_directly():
            return
        try:
            future = self.stream.read_bytes(READ_CHUNK, partial=True)
        except StreamClosedError:
            self.close()
            return
        future.add_done_callback(self._on_read)  # type: ignore[attr-defined]  # a Future, declared Awaitable

    def read_again(self, _: object = None) -> None:
        self._read_next()

    def _on_read(self, future: Any) -> None:
        try:
            data = future.result()
        except StreamClosedError:
            self.close()
            return
        waiting = self.handle(data)
        if self.closed:
            return
        if waiting is None:
            self._read_next()
        else:
            waiting.add_done_callback(self.read_again)

    def handle(self, data: bytes) -> asyncio.Future[None] | None:
        """``received``, where a failure closes this connection, never the hub."""
        try:
            return self.received(data)
        except Exception:  # never a traceback per client; the hub goes on
            log.exception("mqtt connection %s failed", self.describe())
            self.close()
            return None

    def received(self, data: bytes) -> asyncio.Future[None] | None:
        """Bytes from the client (a read, or a websocket message); a future
        while reading must wait (--publish-rate)."""
        self.last_seen = time.monotonic()
        try:
            if self._proxy_line is not None:
                data = unwrap_proxy_line(self, data)
                if not data:
                    return None
            packets = self.parser.feed(data)
            charge_inbound(self)
            if self.connect is None:
                if not packets:
                    return None
                if not isinstance(packets[0], p.Connect):
                    raise MqttError("the first packet is not CONNECT [MQTT-3.1.0-1]")
                self._cancel_deadline()
                if not handle_connect(self, packets[0]):
                    self.close()
                    return None
                rates = self.state.rates
                if rates is not None:
                    self.bucket = rates.bucket(self.key_fingerprint, packets[0].client_id)
                packets = packets[1:]
            if self.bucket is not None:
                return asyncio.ensure_future(self._feed_paced(packets))
            dispatch_all(self, packets)
        except MqttError as exc:
            log.info("closing mqtt %s: %s", self.describe(), exc)
            self.close()
        return None

    async def _feed_paced(self, packets: list[Any]) -> None:
        try:
            await dispatch_paced(self, packets)
        except MqttError as exc:
            log.info("closing mqtt %s: %s", self.describe(), exc)
            self.close()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    # -- writing ---------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        paced = self._paced
        if paced is None:
            QueuedSocket.deliver(self, _Framed(data))
            return
        if self._queue is None:
            return  # stopped (over a limit, or closing): nothing goes out after that
        config = self.state.config
        if not self._replaying:
            # Live messages while a replay is written, or another replay: the
            # queue's limit holds for them.
            self._paced_counted += len(data)
            if self._paced_counted > config.max_queue_bytes:
                self._overflow()
                return
        else:
            # Each filter replays what it matches: one SUBSCRIBE of many
            # overlapping filters (#, +/#, a/#, ...) would hold the retained
            # values once per filter while the client does not read. A replay
            # may hold all of them once, and a queue's worth.
            self._replayed += len(data)
            limit = config.max_retained_bytes + config.max_queue_bytes
            if self._replayed > limit:
                self._overflow(limit)
                return
        paced.append(data)

    def send_qos0(self, message: Message) -> None:
        framed = qos0_publish(message)
        if framed is UNNAMEABLE:
            self.listener.pool.unnameable += 1
            return
        if self.bridge and message.retain and not message.from_retained:
            self.send(encode_publish(framed.topic, framed.payload, 0, retain=True))  # as published
            return
        if self._paced is None:
            QueuedSocket.deliver(self, framed)  # the fan-out path: nothing made per subscriber
        else:
            self.send(framed.frame)

    def send_publish(self, message: Message, qos: int, packet_id: int, dup: bool) -> None:
        parts = qos0_publish(message)
        retain = message.from_retained or (self.bridge and message.retain)
        self.send(encode_publish(parts.topic, parts.payload, qos, retain=retain, dup=dup, packet_id=packet_id))

    def send_pubrel(self, packet_id: int) -> None:
        self.send(p.encode_ack(p.PUBREL, packet_id))

    # -- closing ---------------------------------------------------------------------

    def describe(self) -> str:
        client = self.connect.client_id if self.connect is not None else "?"
        return f"{client!r} from {self.address}"

    def close_slow(self) -> None:
        self.close_later()

    def _overflow(self, limit: int | None = None) -> None:
        # Always disconnect: a PUBLISH or an ack dropped from the queue would
        # leave a QoS 1/2 message in flight for good (the drop policy suits
        # websocket frames, which need no answer).
        self.outbox.slow_consumers += 1
        log.warning("slow consumer mqtt %s: over %d queued bytes, disconnecting",
                    self.describe(), self.outbox.max_queue_bytes if limit is None else limit)
        self.stop_queue()
        self.close_later()

    def close_later(self) -> None:
        """Close on the next loop turn: this may run inside the hub's loop over
        an event's subscribers, which closing would change under it."""
        self.stop_queue()
        IOLoop.current().add_callback(self.close)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._cancel_deadline()
        if self._inbound:
            self.state.inbound.give(self._inbound)
            self._inbound = 0
        hang_up(self)
        self.close_transport()

    def close_transport(self) -> None:
        # Closing here, so the stream need not tell us through the future
        # read_directly gave it (a loop callback per connection for nothing).
        self._stop_reading_directly()
        self.stream.close()

    def throttled_address(self) -> str | None:
        """The address wrong keys count against (handshake.py)."""
        if self._proxied:
            return self.host  # the device's, as the proxy said
        return throttled(self.host, self.state.config.xheaders)
