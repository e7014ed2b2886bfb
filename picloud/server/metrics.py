"""``GET /metrics``: the hub's counters in Prometheus' text format (0.0.4).

The format is small enough to write here, which keeps prometheus_client an
optional, test-only dependency. Everything is read from counters the hub
keeps anyway (PubSub, Outbox, the broker, ``HubState.errors``) when a scrape
arrives, so publishing pays nothing for metrics beyond two additions per
message.
"""

from __future__ import annotations

import time
from typing import Any

from tornado.web import RequestHandler

from .. import __version__
from .access import AccessMixin
from .state import HubState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

class MetricsHandler(AccessMixin, RequestHandler):
    """Needs the key (X-API-Key, apiKey, or ``Authorization: Bearer``, which is
    what Prometheus sends) unless the hub runs with ``--public-metrics``."""

    needs_client_name = False
    shows_everything = True

    def prepare(self) -> None:
        if self.state.config.public_metrics:
            return
        self.check_access()

    def presented_key(self) -> str | None:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            return token
        return super().presented_key()

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(render(self.state))


def render(state: HubState) -> str:
    pubsub, outbox, broker = state.pubsub, state.outbox, state.pubsub.broker
    # Counters only: a scrape must not cost what an /info snapshot does
    # (connections x subscriptions x names).
    out = Exposition()
    out.gauge("picloud_info", "Version of this hub.", 1, {"version": __version__})
    out.gauge("picloud_uptime_seconds", "Seconds since the hub started.",
              round(time.monotonic() - state.started, 3))
    out.gauge("picloud_connections", "Open /subscribe, /publish and MQTT connections.", pubsub.connection_count)
    out.gauge("picloud_mqtt_connections", "Open MQTT connections.", len(state.mqtt))
    out.gauge("picloud_mqtt_sessions", "MQTT sessions, their clients connected or away.", len(state.mqtt_sessions))
    out.gauge("picloud_inbound_partial_bytes", "Bytes of messages and MQTT packets not yet complete, "
              "all connections (--max-total-inbound-bytes).", state.inbound.used)
    listener = state.mqtt_listener
    if listener is not None:
        pool = listener.pool
        out.gauge("picloud_mqtt_session_bytes", "Bytes of QoS 1 and 2 messages MQTT sessions hold.", pool.used)
        out.counter("picloud_mqtt_dropped_total", "QoS 1 and 2 messages dropped from MQTT sessions "
                    "over their queue or --mqtt-session-bytes.", pool.dropped)
        out.counter("picloud_mqtt_unnameable_total", "Deliveries to MQTT clients left out: the event's name "
                    "has + or #, which no MQTT topic may hold.", pool.unnameable)
        out.counter("picloud_mqtt_sessions_ended_total", "Away MQTT sessions ended over --mqtt-max-sessions.",
                    listener.ended)
    out.gauge("picloud_websockets", "Open websockets, /info included.", len(state.sockets))
    out.gauge("picloud_subscribed_events", "Events with at least one subscriber on this hub.", pubsub.subscribed_events)
    out.gauge("picloud_subscriptions", "Subscriptions (connection and event pairs) on this hub.", pubsub.subscriptions)
    out.counter("picloud_messages_published_total", "Messages accepted from publishers.", pubsub.published)
    out.counter("picloud_messages_delivered_total", "Messages handed to subscribers (one per subscriber).",
                pubsub.delivered)
    out.counter("picloud_published_bytes_total", "Bytes of the published messages' JSON frames.",
                pubsub.published_bytes)
    out.counter("picloud_delivered_bytes_total", "Bytes of JSON frames handed to subscribers.",
                pubsub.delivered_bytes)
    out.gauge("picloud_queued_bytes", "Outgoing bytes waiting in connections' queues.", outbox.total_bytes)
    out.counter("picloud_slow_consumers_total", "Subscribers that went over their queue limit.",
                outbox.slow_consumers)
    out.counter("picloud_dropped_frames_total", "Frames not queued for slow subscribers (policy drop).",
                outbox.dropped_frames)
    out.counter("picloud_history_forgotten_events_total",
                "Events whose seq and kept messages were forgotten (--history-events).",
                pubsub.history.forgotten_events)
    out.counter("picloud_history_dropped_messages_total",
                "Kept messages dropped to stay within --history-bytes.", pubsub.history.dropped)
    out.gauge("picloud_history_bytes", "Bytes of the messages kept for catch-up.", pubsub.history.bytes)
    out.gauge("picloud_topics_tracked", "Events GET /topics knows of.", len(pubsub.topics))
    out.counter("picloud_topics_forgotten_total", "Events GET /topics forgot, the least recently published, "
                f"past {pubsub.topics.max_events}.", pubsub.topics.forgotten)
    out.gauge("picloud_retained_values", "Retained values kept here ($SYS/ not counted).", pubsub.retained.count)
    out.gauge("picloud_retained_bytes", "Bytes of the retained values kept here.", pubsub.retained.bytes)
    out.counter("picloud_retained_refused_total", "Values delivered but not retained (over a quota or too big).",
                pubsub.retained.refused)
    out.counter("picloud_errors_total", "Refused requests by kind.",
                [({"kind": kind}, count) for kind, count in sorted(state.errors.items())])
    out.gauge("picloud_pending_connections", "Connections that have not yet shown a valid key.",
              state.pending.total)
    out.counter("picloud_pending_refused_total", "Connections hung up on over --max-pending or --max-pending-per-ip.",
                state.pending.refused)
    out.gauge("picloud_broker_up", "1 while other hubs can be reached through the broker.",
              1 if broker.state == "ok" else 0)
    out.counter("picloud_broker_reconnects_total", "Times the broker connection was re-established.",
                broker.reconnects)
    store = pubsub.retained.store
    if store.records:
        readings(out, store.stats())
    return out.text()


def readings(out: Exposition, stats: dict[str, float]) -> None:
    out.gauge("picloud_store_bytes", "Bytes of the readings database in use (--store-max-bytes).", stats["bytes"])
    out.gauge("picloud_store_series", "Series recorded (--record-max-series).", stats["series"])
    out.gauge("picloud_store_events", "Events recorded.", stats["events"])
    out.counter("picloud_store_writes_total", "Transactions writing readings.", stats["writes"])
    out.counter("picloud_store_dropped_total", "Messages or points not recorded, by why.", [
        ({"reason": "series_limit"}, stats["dropped_series_limit"]),
        ({"reason": "behind"}, stats["dropped_behind"]),
        ({"reason": "write_failed"}, stats["dropped_write_failed"]),
        ({"reason": "unreadable"}, stats["dropped_unreadable"]),
    ])
    out.counter("picloud_store_rollup_only_total", "Points past one a second per series: in the rollups only.",
                stats["rollup_only"])
    out.counter("picloud_store_deleted_rows_total", "Rows of readings deleted, by why.", [
        ({"reason": "budget"}, stats["trimmed"]), ({"reason": "age"}, stats["expired"]),
    ])


class Exposition:
    """Builds the text format: HELP and TYPE once per family, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def gauge(self, name: str, help_text: str, value: Any, labels: dict[str, str] | None = None) -> None:
        self._family(name, "gauge", help_text, [(labels or {}, value)])

    def counter(self, name: str, help_text: str, value: Any) -> None:
        samples = value if isinstance(value, list) else [({}, value)]
        self._family(name, "counter", help_text, samples)

    def _family(self, name: str, kind: str, help_text: str,
                samples: list[tuple[dict[str, str], Any]]) -> None:
        help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    pairs = ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items())
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
