"""Keys with roles (picloud/hub/keys.py): the keys file's format.
Reading the files is server/test_keyfiles.py's; what each role may reach is
server/test_access.py's, rotation server/test_rotation.py's."""

from __future__ import annotations

import pytest

from picloud.exceptions import ConfigError
from picloud.hub.keys import parse_keys_file
from tests.support.keys import KEYS


def test_keys_file_with_comments_and_blank_lines():
    assert parse_keys_file(KEYS) == {
        "sub-key-0123456789ab": "subscribe", "pub-key-0123456789ab": "publish", "admin-key-0123456789ab": "admin",
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a admin\nlonely\n", "line 2: expected 'KEY ROLE', got 1 fields"),
        ("# c\n\na b c\n", "line 3: expected 'KEY ROLE', got 3 fields"),
        ("a root\n", "line 1: unknown role 'root' (use admin, publish, subscribe)"),
        ("a admin\na publish\n", "line 2: key listed twice with different roles"),
    ],
)
def test_bad_keys_file_lines_are_named(text, error):
    with pytest.raises(ConfigError) as info:
        parse_keys_file(text, "keys file 'k'")
    assert str(info.value) == f"keys file 'k' {error}"
