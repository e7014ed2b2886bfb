"""Message brokers: how one hub's messages reach other hubs.

A broker is chosen by URL: ``memory://`` (the default: a single hub, nothing
to relay) or ``redis://host:port/db`` / ``rediss://`` (several hubs sharing
one Redis; needs the ``redis`` extra, imported only then).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..exceptions import ConfigError
from .base import Broker
from .memory import MemoryBroker

__all__ = ["Broker", "MemoryBroker", "broker_from_url"]


def broker_from_url(url: str | None, *, prefix: str = "picloud", outbox: int = 10000) -> Broker:
    """The broker for ``url``; ``prefix`` and ``outbox`` apply to Redis only."""
    scheme = urlsplit(url or "memory://").scheme
    if scheme == "memory":
        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBroker

        return RedisBroker(url, prefix=prefix, outbox=outbox)  # type: ignore[arg-type]
    raise ConfigError(f"unsupported broker url scheme {scheme!r} (use memory://, redis:// or rediss://)")
