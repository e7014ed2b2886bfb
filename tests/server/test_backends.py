"""The broker and store a hub is built with, from its settings (picloud/server/backends.py)."""

from __future__ import annotations

import pytest

from picloud.config import Config
from picloud.hub.history import History
from picloud.server.app import make_app
from tests.support.hub import KEY


def test_the_hub_takes_its_event_limit_from_the_config(tmp_path):
    app = make_app(Config(api_key=KEY, state_dir=tmp_path, history_events=7))
    assert app.state.pubsub.history.events == 7
    with pytest.raises(ValueError, match="history events must be >= 1, not 0"):
        History(events=0)


def test_the_store_goes_with_what_the_broker_keeps(tmp_path):
    """A broker that keeps retained values itself (Redis) gets no file store,
    whatever URL the settings name; the memory broker gets the state directory's."""
    from picloud.brokers.memory import MemoryBroker
    from picloud.brokers.redis import RedisBroker
    from picloud.hub.store import Store
    from picloud.server.backends import make_pubsub
    from picloud.stores.files import FILE_NAME, FileStore

    state = tmp_path / "state"
    on_redis = make_pubsub(Config(state_dir=state), RedisBroker("redis://127.0.0.1:1/0"))
    assert type(on_redis.retained.store) is Store
    alone = make_pubsub(Config(state_dir=state, broker="redis://127.0.0.1:1/0"), MemoryBroker())
    assert isinstance(alone.retained.store, FileStore)
    assert alone.retained.store.path == state / FILE_NAME
    assert isinstance(make_pubsub(Config(state_dir=state)).retained.store, FileStore)
