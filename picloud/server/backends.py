"""Chooses the hub's broker (by its URL) and the store that goes with it.

A broker that keeps the retained values itself (Redis) needs no store here;
otherwise they are kept in the state directory.
"""

from __future__ import annotations

from ..brokers import broker_from_url
from ..config import Config
from ..hub.broker import Broker
from ..hub.history import History
from ..hub.pubsub import PubSub
from ..hub.retained import Retained
from ..hub.store import Store
from ..stores.files import FILE_NAME, FileStore


def make_broker(config: Config) -> Broker:
    return broker_from_url(
        config.broker, prefix=config.broker_prefix, outbox=config.broker_outbox, outbox_bytes=config.broker_outbox_bytes
    )


def make_store(config: Config, broker: Broker) -> Store:
    if broker.keeps_retained:
        return Store()
    return FileStore(config.state_dir / FILE_NAME, config.retain_interval)


def make_pubsub(config: Config, broker: Broker | None = None) -> PubSub:
    """The hub as ``config`` says: its broker, history, retained values and limits."""
    if broker is None:
        broker = make_broker(config)
    return PubSub(
        broker,
        History(config.history_size, config.history_ttl, events=config.history_events, max_bytes=config.history_bytes),
        Retained(make_store(config, broker), max_count=config.max_retained, max_bytes=config.max_retained_bytes),
        max_batch=config.max_batch,
        max_subscriptions=config.max_subscriptions,
        max_total_subscriptions=config.max_total_subscriptions,
        max_retained_value_bytes=config.max_retained_value_bytes,
    )
