"""Message brokers: how one hub's messages reach other hubs.

A broker is chosen by URL: ``memory://`` (the default: a single hub, nothing
to relay) or ``redis://host:port/db`` / ``rediss://`` (several hubs sharing
one Redis; needs the ``redis`` extra, imported only then).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..config import Config
from ..exceptions import ConfigError
from ..hub.broker import Broker
from .memory import MemoryBroker

__all__ = ["MemoryBroker", "broker_from_url"]


def broker_from_url(
    url: str | None,
    *,
    prefix: str = Config.broker_prefix.default,
    outbox: int = Config.broker_outbox.default,
    outbox_bytes: int = Config.broker_outbox_bytes.default,
) -> Broker:
    """The broker for ``url``; ``prefix`` and the outbox's bounds apply to Redis only."""
    scheme = urlsplit(url or "memory://").scheme
    if url is None or scheme == "memory":
        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBroker

        return RedisBroker(url, prefix=prefix, outbox=outbox, outbox_bytes=outbox_bytes)
    raise ConfigError(f"unsupported broker url scheme {scheme!r} (use memory://, redis:// or rediss://)")
