"""Builds the Tornado Application: routes, settings and the shared hub state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.routing import PathMatches, Rule
from tornado.web import Application, RequestHandler

from .auth import Authenticator
from .config import Config
from .exceptions import ProtocolError
from .fastpublish import FastPublish
from .handlers import InfoSocket, PublishHTTP, PublishSocket, SubscribeSocket
from .history import History
from .keepalive import Pinger
from .keys import keys_from_config
from .limits import over_batch_limit
from .metrics import ERROR_KINDS, MetricsHandler
from .origins import OriginPolicy
from .outbox import Outbox
from .protocol import dumps
from .protocol2 import parse_publications
from .pubsub import Message, PubSub
from .queries import HistoryHTTP, RetainedHTTP
from .retained import FILE_NAME, RetainedStore
from .web import web_rules

access_log = logging.getLogger("picloud.access")
log = logging.getLogger("picloud.app")


class WebSocketUpgrade(PathMatches):
    """Matches a path only for websocket upgrades, so ``GET /publish`` (a
    websocket) and ``POST /publish`` (HTTP) reach different handlers."""

    def match(self, request: Any) -> dict[str, Any] | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        return super().match(request)


class InfoPusher:
    """Pushes the ``/info`` snapshot to every info socket on one timer.

    The snapshot is built and framed once per tick for all of them, and the
    timer runs only while someone is watching.
    """

    def __init__(self, pubsub: PubSub, interval: float) -> None:
        self.pubsub = pubsub
        self.interval = interval
        self.sockets: dict[InfoSocket, None] = {}
        self._timer: PeriodicCallback | None = None

    def add(self, sock: InfoSocket) -> None:
        self.sockets[sock] = None
        sock.deliver(self._message())  # a page is never empty
        if self._timer is None:
            self._timer = PeriodicCallback(self.push, self.interval * 1000)
            self._timer.start()

    def discard(self, sock: InfoSocket) -> None:
        self.sockets.pop(sock, None)
        if not self.sockets and self._timer is not None:
            self._timer.stop()
            self._timer = None

    def push(self) -> None:
        message = self._message()
        for sock in self.sockets:
            sock.deliver(message)

    def _message(self) -> Message:
        return Message("", dumps(self.pubsub.snapshot()))


class HealthHandler(RequestHandler):
    """Public liveness probe: reveals nothing about messages or clients."""

    def get(self) -> None:
        app: PiCloudApp = self.application  # type: ignore[assignment]
        state = app.pubsub.broker.state
        self.set_header("Cache-Control", "no-store")
        if app.stopping:
            # Only now can the hub not serve: load balancers should look elsewhere.
            self.set_status(503)
            status = "stopping"
        else:
            status = "ok" if state == "ok" else "degraded"
        self.finish({
            "status": status,
            "uptime": round(time.monotonic() - app.started, 3),
            "connections": app.pubsub.connection_count,
            "broker": state,
        })


class PiCloudApp(Application):
    def __init__(self, config: Config, pubsub: PubSub, auth: Authenticator) -> None:
        self.config = config
        self.pubsub = pubsub
        self.auth = auth
        self.outbox = Outbox(
            config.max_queue_bytes, config.max_total_queue_bytes, config.slow_consumer
        )
        self.info = InfoPusher(pubsub, config.info_interval)
        self.sockets: set[Any] = set()
        self.origins = OriginPolicy(config.allowed_origin)
        self.pinger = Pinger(self.sockets, config.ping_interval)
        self._drained: asyncio.Event | None = None
        self.started = time.monotonic()
        # Refused requests by kind, for /metrics (see metrics.ERROR_KINDS).
        self.errors: Counter[str] = Counter(dict.fromkeys(ERROR_KINDS, 0))
        rules = [
            Rule(WebSocketUpgrade(r"/subscribe"), SubscribeSocket),
            Rule(WebSocketUpgrade(r"/publish"), PublishSocket),
            Rule(WebSocketUpgrade(r"/info"), InfoSocket),
            Rule(PathMatches(r"/subscribe"), SubscribeSocket),
            Rule(PathMatches(r"/info"), InfoSocket),
            Rule(PathMatches(r"/publish"), PublishHTTP),
            Rule(PathMatches(r"/healthz"), HealthHandler),
            Rule(PathMatches(r"/retained"), RetainedHTTP),
            Rule(PathMatches(r"/history"), HistoryHTTP),
            Rule(PathMatches(r"/metrics"), MetricsHandler),
            *web_rules(),  # dashboard, /picloud.js, /static/, /stats
        ]
        super().__init__(
            rules,
            log_function=log_request,
            websocket_max_message_size=config.max_message_bytes,
            xheaders=config.xheaders,
        )

    def publish_frames(self, body: str | bytes) -> list[tuple[Message, Any]]:
        """Publish one message or a batch (all or nothing); return each
        message with its request ``id``."""
        pubsub = self.pubsub
        items = parse_publications(body)
        too_many = over_batch_limit(len(items), self.config.max_batch)
        if too_many is not None:
            raise too_many
        messages = []
        for index, item in enumerate(items):
            try:
                messages.append((pubsub.prepare(item.event, item.data, retain=item.retain), item.id))
            except ProtocolError as exc:
                if len(items) == 1:
                    exc.id = item.id
                    raise
                raise ProtocolError(f"batch element {index}: {exc}", index=index, id=item.id) from None
        for message, _ in messages:
            pubsub.publish_message(message)
        return messages

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        # The hot route, without walking the rules: what they would choose.
        if request.path == "/publish" and request.method == "POST" and "Upgrade" not in request.headers:
            return self.get_handler_delegate(request, PublishHTTP)
        return super().find_handler(request, **kwargs)

    def get_handler_delegate(self, request: Any, target_class: Any, *args: Any, **kwargs: Any) -> Any:
        delegate = super().get_handler_delegate(request, target_class, *args, **kwargs)
        if target_class is PublishHTTP:
            # Plain publishes skip the RequestHandler (see fastpublish.py).
            return FastPublish(self, request, delegate)
        return delegate

    @property
    def stopping(self) -> bool:
        return self._drained is not None

    def forget(self, sock: Any) -> None:
        self.sockets.discard(sock)
        if not self.sockets and self._drained is not None:
            self._drained.set()

    async def shutdown(self, drain: float) -> None:
        """Close every websocket with 1001 after writing what it was sent.

        Returns once they have all closed or ``drain`` seconds have passed.
        """
        self._drained = asyncio.Event()
        self.pinger.stop()
        for sock in list(self.sockets):
            sock.close_gracefully()
        if self.sockets:
            try:
                await asyncio.wait_for(self._drained.wait(), drain)
            except asyncio.TimeoutError:
                if self.sockets:  # they may have closed as the wait ended
                    log.warning("%d connections did not close in %.1fs", len(self.sockets), drain)
        await self.pubsub.retained.close()


def log_request(handler: RequestHandler) -> None:
    """Access log without the query string, which may carry ``apiKey``."""
    status = handler.get_status()
    if status < 400:
        if not access_log.isEnabledFor(logging.INFO):
            return  # the common case, and the formatting below is not free
        # Pages poll some routes every few seconds, and a sensor may publish
        # every second: on a Pi's SD card a line each is wear, not insight.
        log_method = access_log.debug if getattr(handler, "routine", False) else access_log.info
    elif status < 500:
        log_method = access_log.warning
    else:
        log_method = access_log.error
    request = handler.request
    log_method(
        "%d %s %s (%s) %.1fms",
        status, request.method, request.path, request.remote_ip,
        1000.0 * request.request_time(),
    )


def make_pubsub(config: Config, broker: Any = None) -> PubSub:
    """The hub's PubSub with history and retained values as ``config`` says."""
    history = History(config.history_size, config.history_ttl, events=config.history_events)
    if broker is not None and not broker.local_only:
        from .brokers.cluster import ClusterRetained

        return PubSub(broker, history, ClusterRetained(broker))  # type: ignore[arg-type]
    retained = RetainedStore(config.state_dir / FILE_NAME, config.retain_interval)
    return PubSub(broker, history, retained)


def make_app(config: Config, pubsub: PubSub | None = None, auth: Authenticator | None = None) -> PiCloudApp:
    """The Application for ``config``; its only I/O reads the key files it
    names and the retained values."""
    if auth is None:
        keys = None if config.no_auth else keys_from_config(config)
        if keys == {}:
            raise ValueError("an api key is required unless no_auth is set")
        auth = Authenticator(keys)
    return PiCloudApp(config, pubsub or make_pubsub(config), auth)
