"""Chooses the hub's broker and store from the settings, by the broker's URL.

With ``memory://`` the hub itself numbers, keeps and retains messages, and
the retained values are kept in the state directory; with Redis they live
in Redis and nothing is kept here.
"""

from __future__ import annotations

from ..brokers import broker_from_url, is_memory_url
from ..config import Config
from ..hub.broker import Broker
from ..hub.history import History
from ..hub.pubsub import PubSub
from ..hub.retained import Retained
from ..hub.store import Store
from ..stores.files import FILE_NAME, FileStore


def make_broker(config: Config) -> Broker:
    return broker_from_url(config.broker, prefix=config.broker_prefix, outbox=config.broker_outbox)


def make_store(config: Config) -> Store:
    if is_memory_url(config.broker):
        return FileStore(config.state_dir / FILE_NAME, config.retain_interval)
    return Store()  # Redis keeps the retained values


def make_pubsub(config: Config, broker: Broker | None = None) -> PubSub:
    """The hub as ``config`` says: its broker, history, retained values and limits."""
    return PubSub(
        broker if broker is not None else make_broker(config),
        History(config.history_size, config.history_ttl, events=config.history_events),
        Retained(make_store(config)),
        max_batch=config.max_batch,
        max_subscriptions=config.max_subscriptions,
    )
