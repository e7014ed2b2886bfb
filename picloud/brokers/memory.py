"""The default broker: one hub, nothing to relay."""

from __future__ import annotations

from .base import Broker


class MemoryBroker(Broker):
    """Every method of Broker is already what a single hub needs."""
