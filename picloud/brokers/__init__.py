"""Message brokers: how one hub's messages reach other hubs.

A broker is chosen by URL: ``memory://`` (the default: a single hub, nothing
to relay) or ``redis://host:port/db`` / ``rediss://`` (several hubs sharing
one Redis; needs the ``redis`` extra, imported only then).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..exceptions import ConfigError
from ..hub.broker import Broker
from .memory import MemoryBroker

__all__ = ["MemoryBroker", "broker_from_url", "is_memory_url"]


def is_memory_url(url: str | None) -> bool:
    return urlsplit(url or "memory://").scheme == "memory"


def broker_from_url(url: str | None, *, prefix: str = "picloud", outbox: int = 10000) -> Broker:
    """The broker for ``url``; ``prefix`` and ``outbox`` apply to Redis only."""
    if url is None or is_memory_url(url):
        return MemoryBroker()
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBroker

        return RedisBroker(url, prefix=prefix, outbox=outbox)
    raise ConfigError(f"unsupported broker url scheme {scheme!r} (use memory://, redis:// or rediss://)")
