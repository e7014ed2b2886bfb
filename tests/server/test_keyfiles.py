"""The files keys come from (picloud/server/keyfiles.py): the generated key,
the single-key file."""

from __future__ import annotations

import stat

import pytest

from picloud.config import Config
from picloud.exceptions import ConfigError
from picloud.hub.keys import ADMIN_GRANT
from picloud.server.keyfiles import keys_from_config, load_or_create_key


def test_key_is_generated_once_with_mode_0600_and_reused(tmp_path):
    state = tmp_path / "state"
    key, created = load_or_create_key(state)
    assert created and len(key) >= 32
    path = state / "api_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    again, created_again = load_or_create_key(state)
    assert (again, created_again) == (key, False)


def test_unreadable_state_dir_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot read api key file"):
        load_or_create_key(blocker / "state")


def test_api_key_file_holds_one_admin_key(tmp_path):
    path = tmp_path / "key"
    path.write_text("  the-key \n")
    config = Config(api_key_file=str(path), state_dir=tmp_path)
    assert keys_from_config(config) == {"the-key": ADMIN_GRANT}
    path.write_text("two keys\n")
    with pytest.raises(ConfigError, match="must hold exactly one key"):
        keys_from_config(config)
    with pytest.raises(ConfigError, match="cannot read api key file"):
        keys_from_config(Config(api_key_file=str(tmp_path / "missing"), state_dir=tmp_path))
