"""Chooses the hub's broker (by its URL) and the store that goes with it.

With the memory broker, the state directory's database (picloud.db) keeps
the retained values and MQTT sessions, and the readings when they are
recorded (by default everything). A broker that keeps the retained values
itself (Redis) needs no store for them here: the database is then made only
to record readings, when asked to.
"""

from __future__ import annotations

from ..brokers import broker_from_url
from ..config import Config
from ..exceptions import ConfigError, ProtocolError
from ..hub.broker import Broker
from ..hub.history import History
from ..hub.pubsub import PubSub
from ..hub.recording import Recorder
from ..hub.retained import Retained
from ..hub.store import Store
from ..stores.sqlite.database import FILE_NAME
from ..stores.sqlite.store import SqliteStore
from ..wire.codec import validate_event
from ..wire.topics import is_filter, validate_filter


def make_broker(config: Config) -> Broker:
    return broker_from_url(
        config.broker, prefix=config.broker_prefix, outbox=config.broker_outbox, outbox_bytes=config.broker_outbox_bytes
    )


def record_patterns(config: Config, broker: Broker) -> tuple[str, ...]:
    """What to record: as given; else everything where the hub sees
    everything (one hub), nothing where it would have to ask for it (Redis)."""
    if config.no_record:
        return ()
    if config.record:
        for pattern in config.record:
            try:
                validate_event(pattern)
                if is_filter(pattern):
                    validate_filter(pattern)
            except ProtocolError as exc:
                raise ConfigError(f"--record {pattern!r}: {exc}") from None
        return config.record
    return ("#",) if broker.sees_everything else ()


def make_store(config: Config, broker: Broker, recorder: Recorder | None = None) -> Store:
    path = config.state_dir / FILE_NAME
    if not broker.keeps_retained:
        store = SqliteStore(path, config=config)
    elif recorder is not None:
        store = SqliteStore(path, Store(), config)  # the retained values and sessions are in Redis
    else:
        return Store()
    if recorder is not None:
        store.keep_readings(recorder)
    return store


def make_pubsub(config: Config, broker: Broker | None = None) -> PubSub:
    """The hub as ``config`` says: its broker, history, retained values and limits."""
    if broker is None:
        broker = make_broker(config)
    patterns = record_patterns(config, broker)
    recorder = Recorder(patterns) if patterns else None
    pubsub = PubSub(
        broker,
        History(config.history_size, config.history_ttl, events=config.history_events, max_bytes=config.history_bytes),
        Retained(make_store(config, broker, recorder), max_count=config.max_retained,
                 max_bytes=config.max_retained_bytes),
        max_batch=config.max_batch,
        max_subscriptions=config.max_subscriptions,
        max_total_subscriptions=config.max_total_subscriptions,
        max_retained_value_bytes=config.max_retained_value_bytes,
    )
    if recorder is not None:
        pubsub.recorder = recorder
        if not broker.sees_everything:
            for pattern in patterns:
                pubsub.hold(pattern)
    return pubsub
