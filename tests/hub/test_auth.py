"""Where the key comes from and how it is checked."""

from __future__ import annotations

import stat

import pytest

from picloud.exceptions import ConfigError
from picloud.hub.auth import Authenticator, load_or_create_key


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


def test_role_of_matches_exactly():
    auth = Authenticator({"s3cret": "admin"})
    assert auth.role_of("s3cret") == "admin"
    for wrong in (None, "", "S3CRET", "s3cret ", "s3cre", "s3crets", "\udcff"):
        assert auth.role_of(wrong) is None


def test_open_authenticator_admits_everyone():
    auth = Authenticator(None)
    assert auth.open and auth.role_of(None) == "admin"
