"""Keys with roles (picloud/hub/keys.py): the keys file's format, fingerprints.
Reading the files is server/test_keyfiles.py's; what each role may reach is
server/test_access.py's, rotation server/test_rotation.py's."""

from __future__ import annotations

import hashlib

import pytest

from picloud.exceptions import ConfigError
from picloud.hub import keys
from picloud.hub.keys import Grant, fingerprint, parse_keys_file
from tests.support.keys import KEYS


def test_keys_file_with_comments_and_blank_lines():
    assert {key: grant.role for key, grant in parse_keys_file(KEYS).items()} == {
        "sub-key-0123456789ab": "subscribe", "pub-key-0123456789ab": "publish", "admin-key-0123456789ab": "admin",
    }


def test_topic_patterns_and_a_name_binding():
    keys = parse_keys_file(
        "Zr4p0Tf2Yq5Kx8Nn  subscribe  home/#  $SYS/clients/+\n"
        "Ab9Lm3Qw7Ee1Rt6Y  publish    sensors/%c/#\n"
        "Pp3Oo6Ii9Uu2Yy5T  publish    door/#  name=door-*\n"
        "Qq1Ww2Ee3Rr4Tt5Y  publish    a=b/#  name=x=y\n"
        "Hh2Jj5Kk8Ll1Zz4X  admin\n"
    )
    assert keys["Zr4p0Tf2Yq5Kx8Nn"] == Grant("subscribe", ("home/#", "$SYS/clients/+"))
    assert keys["Ab9Lm3Qw7Ee1Rt6Y"] == Grant("publish", ("sensors/%c/#",))
    assert keys["Pp3Oo6Ii9Uu2Yy5T"] == Grant("publish", ("door/#",), "door-*")
    # '=' is ordinary in a topic pattern, and in a name pattern after the first one.
    assert keys["Qq1Ww2Ee3Rr4Tt5Y"] == Grant("publish", ("a=b/#",), "x=y")
    assert keys["Hh2Jj5Kk8Ll1Zz4X"] == Grant("admin") and not keys["Hh2Jj5Kk8Ll1Zz4X"].restricted
    door = keys["Pp3Oo6Ii9Uu2Yy5T"]
    assert door.admits("door-front") and not door.admits("window") and not door.admits("door-a/b")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a admin\nlonely\n", "line 2: expected 'KEY ROLE [PATTERN ...] [name=PATTERN]', got 1 field"),
        ("a root\n", "line 1: unknown role 'root' (use admin, publish, subscribe)"),
        ("a admin\na publish\n", "line 2: key listed twice with different rights"),
        ("a publish x/#\na publish y/#\n", "line 2: key listed twice with different rights"),
        ("# c\n\na publish a/#/b\n", "line 3: bad topic pattern: '#' must be the last level in 'a/#/b'"),
        ("a publish name=x name=y\n", "line 1: a second 'name=y': a key is bound to one name pattern"),
        ("a publish t name=\n", "line 1: 'name=' names no pattern"),
    ],
)
def test_bad_keys_file_lines_are_named(text, error):
    with pytest.raises(ConfigError) as info:
        parse_keys_file(text, "keys file 'k'")
    assert str(info.value) == f"keys file 'k' {error}"


@pytest.mark.parametrize("key", ["k", "ключ-\udc80", "x" * 256, "y" * 257, "z" * 10_000])
def test_a_fingerprint_is_the_keys_sha256_cached_or_not(key):
    expected = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    assert fingerprint(key) == expected
    assert fingerprint(key) == expected  # the second time from the cache, where it is kept


def test_a_key_is_hashed_once_and_a_long_one_each_time():
    cache = keys._cached_digest
    fingerprint("short-key-0123456789")
    hits = cache.cache_info().hits
    fingerprint("short-key-0123456789")
    assert cache.cache_info().hits == hits + 1
    before = cache.cache_info()
    fingerprint("w" * (keys.MAX_CACHED_KEY + 1))
    fingerprint("w" * (keys.MAX_CACHED_KEY + 1))
    assert cache.cache_info() == before  # neither looked up nor kept


def test_forgetting_the_fingerprints_keeps_no_key():
    fingerprint("revoked-key-0123456789")
    keys.forget_fingerprints()
    assert keys._cached_digest.cache_info().currsize == 0
