"""Keys with roles: what each role may do, and the keys file's format.

Besides the single ``API_KEY`` (role ``admin``), an owner can keep keys in a
file, one per line with its role and, optionally, topic rights (hub/rights.py)::

    # KEY  ROLE  [PATTERN ...]  [name=PATTERN]
    # dashboard on the kitchen tablet: may watch, may not publish
    6f1c0e...  subscribe  home/#  $SYS/clients/+
    91ab33...  publish    sensors/%c/#
    d00d5e...  admin

The files are read by server/keyfiles.py; ``SIGHUP`` reads them again
(server/rotation.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from ..exceptions import ConfigError, ProtocolError
from ..wire.topics import validate_filter
from .rights import Permissions, name_allowed

ADMIN, PUBLISH, SUBSCRIBE = "admin", "publish", "subscribe"

#: What each role may do; a route names the one action it needs.
ROLE_ALLOWS: dict[str, frozenset[str]] = {
    ADMIN: frozenset({"publish", "subscribe", "info", "admin"}),
    PUBLISH: frozenset({"publish"}),
    SUBSCRIBE: frozenset({"subscribe", "info"}),
}


def allows(role: str | None, action: str) -> bool:
    return role is not None and action in ROLE_ALLOWS.get(role, ())


def fingerprint(key: str) -> bytes:
    """What a connection remembers of its key: enough to recheck it, not to use it."""
    if len(key) > MAX_CACHED_KEY:
        return _digest(key)
    return _cached_digest(key)


#: Keys longer than this are hashed each time: the cache holds at most 64 of
#: them, and with --no-auth any string a client sends is a key.
MAX_CACHED_KEY = 256


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


# A hub's few keys, presented by every connection that comes.
_cached_digest = lru_cache(maxsize=64)(_digest)


def forget_fingerprints() -> None:
    """Drop the cached keys (SIGHUP replaced them): a revoked key is not kept."""
    _cached_digest.cache_clear()


NAME_PREFIX = "name="


@dataclass(frozen=True)
class Grant:
    """What a key grants: its role, and the topics and client names it is
    held to (none listed: everything the role allows)."""

    role: str
    topics: tuple[str, ...] = ()
    names: str | None = None

    @property
    def restricted(self) -> bool:
        return bool(self.topics)

    def permissions(self, client_name: str) -> Permissions | None:
        """The rights of a connection under this key (None: no limits)."""
        return Permissions(self.topics, client_name) if self.topics else None

    def admits(self, client_name: str) -> bool:
        return self.names is None or name_allowed(self.names, client_name)


ADMIN_GRANT = Grant(ADMIN)


def parse_keys_file(text: str, source: str = "keys file") -> dict[str, Grant]:
    """``KEY ROLE [PATTERN ...] [name=PATTERN]`` per line; ``#`` comments and
    blank lines are skipped."""
    keys: dict[str, Grant] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        # Only whole-line comments: a key may contain any other character.
        if not line or line.startswith("#"):
            continue
        try:
            key, grant = parse_line(line)
        except ValueError as exc:
            raise ConfigError(f"{source} line {number}: {exc}") from None
        if key in keys and keys[key] != grant:
            raise ConfigError(f"{source} line {number}: key listed twice with different rights")
        keys[key] = grant
    return keys


def parse_line(line: str) -> tuple[str, Grant]:
    fields = line.split()
    if len(fields) < 2:
        raise ValueError(f"expected 'KEY ROLE [PATTERN ...] [name=PATTERN]', got {len(fields)} field")
    key, role, *rest = fields
    if role not in ROLE_ALLOWS:
        raise ValueError(f"unknown role {role!r} (use {', '.join(sorted(ROLE_ALLOWS))})")
    topics: list[str] = []
    names = None
    for token in rest:
        if token.startswith(NAME_PREFIX):
            if names is not None:
                raise ValueError(f"a second {token!r}: a key is bound to one name pattern")
            names = token[len(NAME_PREFIX):]
            if not names:
                raise ValueError("'name=' names no pattern")
            continue
        try:
            topics.append(validate_filter(token))
        except ProtocolError as exc:
            raise ValueError(f"bad topic pattern: {exc}") from None
    return key, Grant(role, tuple(topics), names)
