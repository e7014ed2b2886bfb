"""The broker and store a hub is built with, from its settings (picloud/server/backends.py)."""

from __future__ import annotations

import asyncio

import pytest

from picloud.config import Config
from picloud.exceptions import ConfigError
from picloud.hub.history import History
from picloud.server.app import make_app
from tests.support.hub import KEY


def test_the_hub_takes_its_event_limit_from_the_config(tmp_path):
    app = make_app(Config(api_key=KEY, state_dir=tmp_path, history_events=7))
    assert app.state.pubsub.history.events == 7
    with pytest.raises(ValueError, match="history events must be >= 1, not 0"):
        History(events=0)


def test_the_store_goes_with_what_the_broker_keeps(tmp_path):
    """A broker that keeps retained values itself (Redis) gets no store for
    them, whatever URL the settings name: the database records readings
    only, if any; the memory broker gets the state directory's database for
    its retained values and sessions, recording or not."""
    from picloud.brokers.memory import MemoryBroker
    from picloud.brokers.redis import RedisBroker
    from picloud.hub.store import Store
    from picloud.server.backends import make_pubsub
    from picloud.stores.sqlite.database import FILE_NAME as DATABASE_FILE
    from picloud.stores.sqlite.store import SqliteStore

    state = tmp_path / "state"
    made = []

    def store(config: Config, broker=None):
        made.append(make_pubsub(config, broker).retained.store)
        return made[-1]

    redis = "redis://127.0.0.1:1/0"
    assert type(store(Config(state_dir=state), RedisBroker(redis))) is Store
    recording = store(Config(state_dir=state, record=("house/#",)), RedisBroker(redis))
    assert isinstance(recording, SqliteStore) and type(recording.inner) is Store and recording.records
    assert recording.db.path == state / DATABASE_FILE
    alone = store(Config(state_dir=state, broker=redis), MemoryBroker())
    assert isinstance(alone, SqliteStore) and alone.inner is None and alone.db.path == state / DATABASE_FILE
    quiet = store(Config(state_dir=state, no_record=True))
    assert isinstance(quiet, SqliteStore) and quiet.inner is None and not quiet.records
    for each in made:
        asyncio.run(each.close())


@pytest.mark.parametrize(("pattern", "error"), [
    ("a/#/b", "--record 'a/#/b': '#' must be the last level in 'a/#/b'"),
    ("", "--record '': 'event' must not be empty"),
])
def test_a_pattern_to_record_that_is_none_is_a_config_error(tmp_path, pattern, error):
    from picloud.server.backends import make_pubsub

    with pytest.raises(ConfigError) as info:
        make_pubsub(Config(state_dir=tmp_path, record=("sensors/#", pattern)))
    assert str(info.value) == error
