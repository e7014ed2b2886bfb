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
