"""Choosing a broker by URL (picloud/brokers/__init__.py)."""

from __future__ import annotations

from picloud.brokers import broker_from_url
from picloud.brokers.memory import MemoryBroker
from picloud.brokers.redis import RedisBroker


def test_broker_from_url_picks_redis_and_checks_the_url():
    broker = broker_from_url("redis://127.0.0.1:1/0", prefix="p", outbox=5)
    assert isinstance(broker, RedisBroker)
    assert broker.state == "degraded"  # not started
    assert isinstance(broker_from_url("memory://"), MemoryBroker)
