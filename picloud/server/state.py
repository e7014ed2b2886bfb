"""What every handler of one hub shares, handed to each in ``initialize``.

Tornado's Application holds routes and settings only; handlers reach the
hub, its limits and its counters through this object instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any, Protocol

from tornado.ioloop import PeriodicCallback

from ..config import Config
from ..exceptions import ProtocolError
from ..hub.auth import Authenticator
from ..hub.limits import AuthThrottle, ByteBudget, PublishRates
from ..hub.message import Message
from ..hub.pubsub import PubSub
from ..hub.rights import Permissions
from ..hub.topics import SAMPLE_EVERY
from .info import InfoPusher
from .keepalive import Pingable, Pinger
from .origins import OriginPolicy
from .outbox import Outbox
from .pending import Pending

log = logging.getLogger("picloud.app")

#: Kinds of refused requests counted in ``errors`` (and shown in /metrics):
#: a missing or wrong key, a missing client name, a frame or body that breaks
#: the protocol, an HTTP request that is not one (a Content-Length that is
#: not a length), an HTTP publish over --publish-rate.
ERROR_KINDS = ("auth", "client_name", "protocol", "request", "rate")


class OpenSocket(Pingable, Protocol):
    """An open websocket of the hub, as shutdown and key rotation see it."""

    action: str
    key_fingerprint: bytes | None
    client_name: str
    shows_everything: bool
    permissions: Permissions | None

    def deliver(self, message: Message) -> None: ...
    def close_gracefully(self, code: int = ..., reason: str = ...) -> None: ...
    def send_error_frame(self, error: ProtocolError) -> None: ...


class HubState:
    def __init__(self, config: Config, pubsub: PubSub, auth: Authenticator) -> None:
        self.config = config
        self.pubsub = pubsub
        self.auth = auth
        self.outbox = Outbox(config.max_queue_bytes, config.max_total_queue_bytes, config.slow_consumer)
        self.info = InfoPusher(pubsub, config.info_interval)
        self.sockets: set[OpenSocket] = set()  # every open websocket (server/sockets.py)
        self.mqtt: set[Any] = set()  # every MQTT connection (server/mqtt/connection.py)
        self.mqtt_sessions: dict[str, Any] = {}  # by client id, the away ones too (server/mqtt/session.py)
        self.mqtt_listener: Any = None  # server/mqtt/listener.py, which keeps them
        self.origins = OriginPolicy(config.allowed_origin)
        self.pinger = Pinger(self.sockets, config.ping_interval)
        self.started = time.monotonic()
        self.errors: Counter[str] = Counter(dict.fromkeys(ERROR_KINDS, 0))
        # What every websocket holds of frames and messages not yet complete.
        self.inbound = ByteBudget(config.max_total_inbound_bytes)
        # Behind a proxy every connection comes from it: only the total applies.
        self.pending = Pending(config.max_pending, config.max_pending_per_ip, per_address=not config.xheaders,
                               key_timeout=config.handshake_timeout)
        self.throttle = AuthThrottle(config.auth_fail_limit, config.auth_block)
        # Off by default: one generated key may be every device of a house.
        self.rates = PublishRates(config.publish_rate, config.publish_burst) if config.publish_rate > 0 else None
        self._drained: asyncio.Event | None = None
        self._topic_samples = PeriodicCallback(pubsub.topics.sample, SAMPLE_EVERY * 1000)

    def sample_topics(self) -> None:
        """Sample the topic tracker's counts from now on, for its rates (at
        start, and by GET /topics for a hub started otherwise, as tests do)."""
        if not self._topic_samples.is_running():
            self._topic_samples.start()

    @property
    def stopping(self) -> bool:
        return self._drained is not None

    def forget(self, sock: OpenSocket) -> None:
        self.sockets.discard(sock)
        if not self.sockets and self._drained is not None:
            self._drained.set()

    async def shutdown(self, drain: float) -> None:
        """Close every websocket with 1001 after writing what it was sent.

        Returns once they have all closed or ``drain`` seconds have passed.
        """
        self._drained = asyncio.Event()
        self.pinger.stop()
        self._topic_samples.stop()
        for sock in list(self.sockets):
            sock.close_gracefully()
        if self.sockets:
            try:
                await asyncio.wait_for(self._drained.wait(), drain)
            except asyncio.TimeoutError:
                if self.sockets:  # they may have closed as the wait ended
                    log.warning("%d connections did not close in %.1fs", len(self.sockets), drain)
        await self.pubsub.retained.close()
