"""All of the hub's settings in one object.

The CLI fills it from options, each of which also reads an environment
variable: the seed's names (PORT, API_KEY, USE_TLS, KEY_FILE, CERT_FILE) as
they were, every later one as PICLOUD_<OPTION>.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


#: The file in the state directory holding the key the hub generated.
KEY_FILE_NAME = "api_key"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "picloud"


@dataclass
class Config:
    host: str | None = None  # None: every interface, IPv4 and IPv6
    port: int = 9000
    api_key: str | None = None
    no_auth: bool = False
    tls: bool = False
    key_file: str | None = None
    cert_file: str | None = None
    state_dir: Path = None  # type: ignore[assignment]
    info_interval: float = 5.0
    broker: str = "memory://"
    broker_prefix: str = "picloud"  # namespace of keys and channels in Redis
    broker_outbox: int = 10000  # messages kept for other hubs while Redis is away
    # Outgoing buffers (see picloud/outbox.py for the slow-consumer policy).
    max_queue_bytes: int = 1 * MIB
    max_total_queue_bytes: int = 64 * MIB
    slow_consumer: str = "disconnect"
    # Incoming limits.
    max_message_bytes: int = 1 * MIB
    shutdown_drain: float = 5.0
    xheaders: bool = False
    public_metrics: bool = False  # serve /metrics without the key
    # History and retained values (see picloud/history.py, picloud/retained.py).
    history_size: int = 100
    history_ttl: float = 0.0  # seconds; 0: no age limit
    history_events: int = 1000  # events whose seq and messages are remembered
    retain_interval: float = 1.0  # at most one retained-values write per interval
    # Keys with roles, limits, origins, keepalive (README: Security and limits).
    keys_file: str | None = None
    api_key_file: str | None = None
    max_connections: int = 10000  # lowered at start to fit the open-files limit
    max_subscriptions: int = 1000  # per connection
    max_batch: int = 1000  # messages in one publish
    allowed_origin: tuple[str, ...] = ()  # empty: any origin
    ping_interval: float = 20.0  # 0: no websocket pings
    handshake_timeout: float = 10.0  # for request headers and idle HTTP connections
    publish_rate: float = 0.0  # messages/s per publish connection; 0: unlimited
    publish_burst: int = 50

    def __post_init__(self) -> None:
        if self.state_dir is None:
            self.state_dir = default_state_dir()
        self.state_dir = Path(self.state_dir)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"
