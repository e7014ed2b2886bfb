"""Message brokers: how one hub's messages reach other hubs.

A broker is chosen by URL: ``memory://`` (the default: a single hub, nothing
to relay) or ``redis://host:port/db``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..exceptions import ConfigError
from .base import Broker
from .memory import MemoryBroker

__all__ = ["Broker", "MemoryBroker", "broker_from_url"]


def broker_from_url(url: str | None) -> Broker:
    scheme = urlsplit(url or "memory://").scheme
    if scheme == "memory":
        return MemoryBroker()
    raise ConfigError(f"unsupported broker url scheme {scheme!r} (use memory://)")
