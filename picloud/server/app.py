"""Builds the Tornado Application: routes and settings, over one HubState."""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPMessageDelegate, HTTPServerRequest
from tornado.routing import PathMatches, Rule
from tornado.web import Application

from ..config import Config
from ..hub.auth import Authenticator
from ..hub.pubsub import PubSub
from .backends import make_pubsub
from .devices import ForgetDeviceHTTP
from .fastpublish import FastPublish
from .health import HealthHandler
from .keyfiles import keys_from_config
from .logs import log_request
from .metrics import MetricsHandler
from .mqtt.websocket import MqttOverWebSocket
from .publish import PublishHTTP
from .queries import HistoryHTTP, RetainedHTTP
from .readings import ReadingsHTTP, RecordedEventsHTTP
from .sockets import HubSocket, InfoSocket, PublishSocket, SubscribeSocket
from .sparklines import SparklinesHTTP
from .state import HubState
from .topics import TopicsHTTP
from .upgrade import FastUpgrade
from .web import web_rules


class WebSocketUpgrade(PathMatches):
    """Matches a path only for websocket upgrades, so ``GET /publish`` (a
    websocket) and ``POST /publish`` (HTTP) reach different handlers."""

    def match(self, request: HTTPServerRequest) -> dict[str, Any] | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        return super().match(request)


class PiCloudApp(Application):
    def __init__(self, state: HubState) -> None:
        self.state = state
        shared = {"state": state}
        rules = [
            Rule(WebSocketUpgrade(r"/subscribe"), SubscribeSocket, shared),
            Rule(WebSocketUpgrade(r"/publish"), PublishSocket, shared),
            Rule(WebSocketUpgrade(r"/info"), InfoSocket, shared),
            Rule(PathMatches(r"/subscribe"), SubscribeSocket, shared),
            Rule(PathMatches(r"/info"), InfoSocket, shared),
            Rule(PathMatches(r"/publish"), PublishHTTP, shared),
            Rule(PathMatches(r"/healthz"), HealthHandler, shared),
            Rule(PathMatches(r"/retained"), RetainedHTTP, shared),
            Rule(PathMatches(r"/history"), HistoryHTTP, shared),
            Rule(PathMatches(r"/readings"), ReadingsHTTP, shared),
            Rule(PathMatches(r"/readings/events"), RecordedEventsHTTP, shared),
            Rule(PathMatches(r"/readings/sparklines"), SparklinesHTTP, shared),
            Rule(PathMatches(r"/topics"), TopicsHTTP, shared),
            Rule(PathMatches(r"/devices/forget"), ForgetDeviceHTTP, shared),
            Rule(PathMatches(r"/metrics"), MetricsHandler, shared),
            Rule(PathMatches(r"/mqtt"), MqttOverWebSocket, shared),
            *web_rules(state),  # dashboard, /picloud.js, /static/, /stats
        ]
        config = state.config
        super().__init__(
            rules,
            log_function=log_request,
            websocket_max_message_size=config.max_message_bytes,
            xheaders=config.xheaders,
        )

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
        # The hot routes, without walking the rules: what they would choose.
        path = request.path
        if path == "/publish" and request.method == "POST" and "Upgrade" not in request.headers:
            return self.get_handler_delegate(request, PublishHTTP, {"state": self.state})
        socket = UPGRADES.get(path)
        if socket is not None and request.headers.get("Upgrade", "").lower() == "websocket":
            return self.get_handler_delegate(request, socket, {"state": self.state})
        return super().find_handler(request, **kwargs)

    def get_handler_delegate(  # type: ignore[override]  # a FastPublish is a delegate too
        self, request: HTTPServerRequest, target_class: Any, *args: Any, **kwargs: Any
    ) -> HTTPMessageDelegate:
        delegate = super().get_handler_delegate(request, target_class, *args, **kwargs)
        if target_class is PublishHTTP:
            # Plain publishes skip the RequestHandler (see fastpublish.py).
            return FastPublish(self.state, request, delegate)
        if target_class in UPGRADED_SOCKETS:
            # So do plain upgrades (see upgrade.py).
            return FastUpgrade(self, request, target_class, delegate)
        return delegate


#: The websocket routes a plain upgrade request reaches through FastUpgrade.
UPGRADES: dict[str, type[HubSocket]] = {"/subscribe": SubscribeSocket, "/publish": PublishSocket,
                                        "/info": InfoSocket}
UPGRADED_SOCKETS = frozenset(UPGRADES.values())


def make_app(config: Config, pubsub: PubSub | None = None, auth: Authenticator | None = None) -> PiCloudApp:
    """The Application for ``config``; its only I/O reads the key files it
    names and the retained values."""
    if auth is None:
        keys = None if config.no_auth else keys_from_config(config)
        if keys == {}:
            raise ValueError("an api key is required unless no_auth is set")
        auth = Authenticator(keys)
    return PiCloudApp(HubState(config, pubsub or make_pubsub(config), auth))
