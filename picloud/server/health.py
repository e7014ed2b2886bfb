"""``GET /healthz``: the public liveness probe; reveals nothing about
messages or clients."""

from __future__ import annotations

import time

from tornado.web import RequestHandler

from .logs import WithholdsQuery
from .state import HubState


class HealthHandler(WithholdsQuery, RequestHandler):
    def initialize(self, state: HubState) -> None:
        self.state = state

    def get(self) -> None:
        state = self.state
        broker_state = state.pubsub.broker.state
        self.set_header("Cache-Control", "no-store")
        if state.stopping:
            # Only now can the hub not serve: load balancers should look elsewhere.
            self.set_status(503)
            status = "stopping"
        else:
            status = "ok" if broker_state == "ok" else "degraded"
        self.finish({
            "status": status,
            "uptime": round(time.monotonic() - state.started, 3),
            "connections": state.pubsub.connection_count,
            "broker": broker_state,
        })
