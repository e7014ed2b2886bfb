"""All of the hub's settings, in one table: the body of ``Config``.

Each row (a ``picloud.setting.Setting``) writes a setting's default, type,
bounds, environment variable, help and group once. The ``picloud serve``
options (picloud/cli.py), the settings table of docs/configuration.rst
(rendered when the docs are built) and the settings in etc/default/picloud
(picloud/settings_docs.py) are made from it, so a new setting is one more row
here and nothing else; then ``python -m picloud.settings_docs --write`` brings
etc/default/picloud up to date (a test fails until it has).

Environment variables: the seed's names (PORT, API_KEY, USE_TLS, KEY_FILE,
CERT_FILE) as they were, every later one PICLOUD_<NAME>.

Standard library only: the protocol-neutral core imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from .setting import GROUPS, Setting

MIB = 1024 * 1024

# server/outbox.py: what happens to a subscriber over its queue limit.
SLOW_POLICIES = ("disconnect", "drop")
LOG_LEVELS = ("debug", "info", "warning", "error")


#: The file in the state directory holding the key the hub generated.
KEY_FILE_NAME = "api_key"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "picloud"


class Config:
    """The hub's settings: ``Config(port=0, api_key="k")``, every other one at
    its default. Every attribute may be read and assigned (the server lowers
    ``max_connections`` at start and sets a generated ``api_key``)."""

    host = Setting[Optional[str]](
        None, kind="str", group="network", shown="every interface, IPv4 and IPv6",
        help="Address to listen on.", doc="Behind a reverse proxy on the same machine: 127.0.0.1.",
    )
    port = Setting(
        9000, kind="int", minimum=0, maximum=65535, env="PORT", group="network",
        help="Port to listen on; 0 picks a free one.",
    )
    defer_accept = Setting(
        1, kind="int", minimum=0, maximum=60, group="network",
        help="Seconds a new connection may wait in the kernel for its first bytes; 0 takes it at once.",
        doc="Clients send their request as they connect, so the hub is woken once, the request there. One "
        "that sends nothing is handed over when it answers the kernel's resent SYN-ACK (the seconds are "
        "rounded up to those resends: 1, 3, 7, 15, 31, 63), then has the handshake timeout. Such "
        "connections wait in the listen backlog (1024, or --max-pending if more), past which SYN cookies "
        "take new ones at once. Linux only (TCP_DEFER_ACCEPT), the HTTP port only.",
    )
    xheaders = Setting(
        False, kind="bool", group="network", help="Trust X-Forwarded-For / X-Real-IP from a reverse proxy.",
        doc="So that /info and the logs show the devices' real addresses behind etc/nginx/picloud.conf. "
        "Only when the hub is reachable through the proxy alone.",
    )
    info_interval = Setting(
        5.0, kind="float", minimum=0.05, group="network", help="Seconds between /info snapshots.",
    )
    ping_interval = Setting(
        20.0, kind="float", minimum=0, group="network", help="Seconds between websocket pings; 0 turns them off.",
    )
    handshake_timeout = Setting(
        5.0, kind="float", minimum=0.1, group="network", help="Seconds a client has to send its request headers.",
        doc="Idle HTTP connections are closed after as long; a connection that has not shown a valid key "
        "by then has its next request answered with Connection: close.",
    )

    api_key = Setting[Optional[str]](
        None, kind="str", env="API_KEY", group="security", shown="generated once, kept in the state directory",
        help="API key clients must present.",
        doc="The key file is $PICLOUD_STATE_DIR/api_key (mode 0600); `fab deploy` writes it there when "
        "DEPLOY_API_KEY is given.",
    )
    api_key_file = Setting[Optional[str]](
        None, kind="file", group="security", example="/etc/picloud/api_key",
        help="File holding the admin key (keeps it out of ps and unit files).",
    )
    keys_file = Setting[Optional[str]](
        None, kind="file", group="security", example="/etc/picloud/keys",
        help="File of 'KEY ROLE' lines (roles: publish, subscribe, admin); SIGHUP reloads it.",
        doc="A reload closes the connections whose key was removed.",
    )
    no_auth = Setting(
        False, kind="bool", group="security",
        help="Accept every request without a key (trusted networks only; the log says so).",
    )
    tls = Setting(
        False, kind="bool", env="USE_TLS", any_value=True, group="security", help="Serve wss:// and https://.",
        doc="KEY_FILE and CERT_FILE must then name the private key and certificate chain (PEM), readable by "
        "the service user. Renewed files are picked up on a reload (systemctl reload picloud) without "
        "dropping connections.",
    )
    key_file = Setting[Optional[str]](
        None, kind="file", env="KEY_FILE", group="security", example="/etc/picloud/tls/privkey.pem",
        help="TLS private key (PEM).",
    )
    cert_file = Setting[Optional[str]](
        None, kind="file", env="CERT_FILE", group="security", example="/etc/picloud/tls/fullchain.pem",
        help="TLS certificate chain (PEM).",
    )
    allowed_origin = Setting[tuple[str, ...]](
        (), kind="str", repeatable=True, group="security", shown="any origin",
        help="Browser origin allowed besides the hub's own.",
    )
    public_metrics = Setting(False, kind="bool", group="security", help="Serve /metrics without the API key.")

    max_connections = Setting(
        10000, kind="int", minimum=1, group="limits",
        help="Open websockets; more are refused with 503 (capped below the open-files limit).",
        doc="At start the hub raises its open-files limit to the hard limit and lowers this to 64 below it.",
    )
    max_pending = Setting(
        256, kind="int", minimum=1, group="limits",
        help="Connections that have not yet shown a valid key; more are hung up on at once.",
        doc="Keyless half-sent requests would otherwise take every file descriptor; connections already "
        "in are never the ones refused.",
    )
    max_pending_per_ip = Setting(
        32, kind="int", minimum=1, group="limits",
        help="Connections from one address that have not yet shown a valid key.",
        doc="Not applied with --xheaders: every connection then comes from the proxy, which holds slow "
        "clients itself; --max-pending still does.",
    )
    max_subscriptions = Setting(
        1000, kind="int", minimum=1, group="limits", help="Events one connection may subscribe to.",
    )
    max_total_subscriptions = Setting(
        100_000, kind="int", minimum=1, group="limits",
        help="Subscriptions across all connections of the hub.",
        doc="/info lists them all: a cap per connection alone lets many connections grow it without bound.",
    )
    max_batch = Setting(1000, kind="int", minimum=1, group="limits", help="Messages in one batch publish.")
    max_message_bytes = Setting(
        1 * MIB, kind="int", minimum=1024, group="limits", help="Largest incoming websocket message or HTTP body.",
        doc="In bytes; over it a websocket is closed with 1009 and an HTTP request gets 413.",
    )
    max_total_inbound_bytes = Setting(
        64 * MIB, kind="int", minimum=1024, group="limits",
        help="Incoming bytes of messages not yet complete, across all connections.",
        doc="The connection that would go over it is closed with 1009: 10,000 connections each half-way "
        "through a 1 MiB message would be 10 GiB.",
    )
    max_queue_bytes = Setting(
        1 * MIB, kind="int", minimum=1024, group="limits", help="Outgoing bytes a connection may have queued.",
    )
    max_total_queue_bytes = Setting(
        64 * MIB, kind="int", minimum=1024, group="limits", help="Outgoing bytes queued across all connections.",
    )
    slow_consumer = Setting(
        "disconnect", kind="choice", choices=SLOW_POLICIES, group="limits",
        help="What to do with a subscriber over its queue limit.",
        doc="disconnect closes it with code 1013; drop keeps it connected but drops frames for it until it "
        "catches up.",
    )
    auth_fail_limit = Setting(
        20, kind="int", minimum=1, group="security",
        help="Wrong keys from one address within 10 seconds before it is blocked.",
        doc="A blocked address gets 429 for every attempt, the right key included; other addresses are "
        "not affected.",
    )
    auth_block = Setting(
        60.0, kind="float", minimum=0, group="security", help="Seconds an address stays blocked.",
    )
    publish_rate = Setting(
        0.0, kind="float", minimum=0, group="limits",
        help="Messages per second one publisher (key and client name) may send; 0: unlimited.",
        doc="Counted across its websockets and HTTP publishes: an error frame (closed 1008 after 10 in a "
        "row) or 429 over it. Off by default: one generated key may be every device of a house.",
    )
    publish_burst = Setting(
        50, kind="int", minimum=1, group="limits",
        help="Messages a publisher may send at once under --publish-rate.",
    )
    shutdown_drain = Setting(
        5.0, kind="float", minimum=0, group="limits", help="Seconds to write out queued messages on shutdown.",
    )

    state_dir = Setting(
        factory=default_state_dir, shown="~/.local/share/picloud", example="/var/lib/picloud", kind="dir",
        group="history and retained", help="Where the generated key and the retained values are kept.",
        doc="$XDG_DATA_HOME/picloud when XDG_DATA_HOME is set; the systemd unit and the init.d script use "
        "/var/lib/picloud.",
    )
    history_size = Setting(
        100, kind="int", minimum=0, group="history and retained",
        help="Messages kept per event for catch-up after a reconnect; 0 keeps none.",
    )
    history_ttl = Setting(
        0.0, kind="float", minimum=0, group="history and retained",
        help="Seconds a kept message stays; 0 for no limit.",
    )
    history_events = Setting(
        1000, kind="int", minimum=1, group="history and retained",
        help="Events whose seq and messages are kept; the least recently published are forgotten past this.",
        doc="Bounds memory: at most this many events times --history-size messages.",
    )
    history_bytes = Setting(
        32 * MIB, kind="int", minimum=0, group="history and retained",
        help="Bytes of kept messages, across all events.",
        doc="Past it the least recently published event's oldest messages go first; a client resuming "
        "from before what was dropped is told it could not recover. Counted as the messages' JSON frames: "
        "with their websocket frames and objects, memory is about twice this.",
    )
    max_retained = Setting(
        10_000, kind="int", minimum=0, group="history and retained",
        help="Retained values kept (the hub's own $SYS/clients/ values not counted).",
        doc="Past it, or past --max-retained-bytes, a value asked to be retained is delivered but not "
        "retained, and the publisher told so (an error frame, or 413).",
    )
    max_retained_bytes = Setting(
        16 * MIB, kind="int", minimum=0, group="history and retained", help="Bytes of the retained values kept.",
    )
    max_retained_value_bytes = Setting(
        256 * 1024, kind="int", minimum=0, group="history and retained",
        help="Largest value that is retained; a larger one is delivered but not retained.",
    )
    broker = Setting(
        "memory://", kind="str", group="cluster", help="memory:// (one hub) or redis://host:port/db.",
        doc="redis:// for several hubs sharing Redis; rediss:// for TLS, redis://:password@host for a password.",
    )
    broker_prefix = Setting(
        "picloud", kind="str", group="cluster",
        help="Namespace of Redis keys and channels; hub clusters sharing a Redis need different ones.",
    )
    broker_outbox_bytes = Setting(
        16 * MIB, kind="int", minimum=1024, group="cluster",
        help="Bytes of the messages kept for other hubs while Redis is unreachable (oldest dropped past this).",
    )
    broker_outbox = Setting(
        10000, kind="int", minimum=1, group="cluster",
        help="Messages kept for other hubs while Redis is unreachable (oldest dropped past this).",
    )

    mqtt_port = Setting[Optional[int]](
        None, kind="int", minimum=0, maximum=65535, group="mqtt", shown="1883, off with a warning if taken",
        help="Port of the MQTT 3.1.1 listener (TCP); 0 picks a free one.",
        doc="Mosquitto often holds 1883 already: then the hub says so in one line and serves the rest. A port "
        "given here that is taken stops the hub. With --tls, plain MQTT is off unless a port is given.",
    )
    mqtt_tls_port = Setting[Optional[int]](
        None, kind="int", minimum=0, maximum=65535, group="mqtt", shown="8883 with --tls, off with a warning if taken",
        help="Port of MQTT over TLS, with the hub's certificate; 0 picks a free one.",
        doc="Only with --tls. SIGHUP reloads the certificate for it as for HTTPS. A port given here that is taken "
        "stops the hub.",
    )
    no_mqtt = Setting(False, kind="bool", group="mqtt", help="Do not listen for MQTT clients.")
    mqtt_session_queue = Setting(
        1000, kind="int", minimum=1, group="mqtt",
        help="QoS 1 and 2 messages a session keeps while its client is away (oldest dropped past this).",
    )
    mqtt_session_expiry = Setting(
        86400.0, kind="float", minimum=1, group="mqtt",
        help="Seconds a persistent session (clean session 0) outlives its client.",
    )
    mqtt_max_sessions = Setting(
        1000, kind="int", minimum=1, group="mqtt",
        help="Persistent sessions kept while their clients are away; past it the one away longest ends.",
    )
    mqtt_session_bytes = Setting(
        32 * MIB, kind="int", minimum=1024, group="mqtt",
        help="Bytes of QoS 1 and 2 messages all sessions hold together, queued or in flight.",
        doc="Past it a session's oldest queued messages are dropped, then the new one (counted in "
        "picloud_mqtt_dropped_total).",
    )
    mqtt_max_inflight = Setting(
        20, kind="int", minimum=1, group="mqtt",
        help="QoS 1 and 2 messages sent to a client and not yet acknowledged; more wait in its session.",
    )

    store_interval = Setting(
        1.0, kind="float", minimum=0, group="store", aliases=("retain_interval",),
        help="At most one write to the state directory per this many seconds: retained values, sessions, readings.",
        doc="Spares the SD card: one transaction an interval however many messages come (picloud.db). A crash "
        "loses at most this interval's changes; an acknowledged retained publish is already committed.",
    )
    record = Setting(
        (), kind="str", repeatable=True, group="store", shown="every event outside $SYS/ (one hub)",
        help="Events to record as readings: names or wildcard filters.",
        doc="With the memory broker the default is #. With Redis a hub records only what is given here, and "
        "receives it from Redis whether or not its own clients subscribe to it.",
    )
    no_record = Setting(False, kind="bool", group="store", help="Record no readings.")
    record_raw_days = Setting(
        7.0, kind="float", minimum=0, group="store",
        help="Days each recorded message and raw numeric point is kept.",
    )
    record_rollup_days = Setting(
        365.0, kind="float", minimum=0, group="store",
        help="Days the 1-minute and 1-hour rollups of numeric readings are kept.",
    )
    store_max_bytes = Setting(
        256 * MIB, kind="int", minimum=MIB, group="store",
        help="Bytes of the readings database; past it the series over its share loses its oldest points first.",
        doc="Retained values and MQTT sessions are not counted here: they have their own quotas.",
    )
    record_max_series = Setting(
        2000, kind="int", minimum=1, group="store",
        help="Series recorded (one per event and numeric field), and events; past it new ones are not recorded.",
    )

    log_level = Setting(
        "info", kind="choice", choices=LOG_LEVELS, ignore_case=True, group="logging",
        help="Log this level and above.",
        doc="At info, a line as each connection opens and closes and one per HTTP request, except "
        "successful HTTP publishes, dashboard polls and websocket upgrades (at debug: the connection's "
        "line names the client).",
    )

    def __init__(self, **overrides: Any) -> None:
        unknown = sorted(set(overrides) - set(NAMES))
        if unknown:
            raise TypeError(f"unknown setting {unknown[0]!r}")
        for setting in SETTINGS:
            value = overrides.get(setting.name)
            # None asks for a computed default, as the dataclass's state_dir=None did.
            if setting.name not in overrides or (value is None and setting.factory is not None):
                value = setting.make_default()
            setattr(self, setting.name, value)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return vars(self) == vars(other)

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{name}={value!r}" for name, value in vars(self).items()) + ")"


# The table in the order of --help and the docs: by group, in row order within one.
SETTINGS: tuple[Setting[Any], ...] = tuple(
    sorted(
        (value for value in vars(Config).values() if isinstance(value, Setting)),
        key=lambda setting: GROUPS.index(setting.group),
    )
)
NAMES = tuple(setting.name for setting in SETTINGS)
