"""Keys with roles: what each role may do, and the keys file's format.

Besides the single ``API_KEY`` (role ``admin``), an owner can keep keys in a
file, one per line with its role::

    # dashboard on the kitchen tablet: may watch, may not publish
    6f1c0e...  subscribe
    91ab33...  publish
    d00d5e...  admin

The files are read by server/keyfiles.py; ``SIGHUP`` reads them again
(server/rotation.py).
"""

from __future__ import annotations

import hashlib

from ..exceptions import ConfigError

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
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def parse_keys_file(text: str, source: str = "keys file") -> dict[str, str]:
    """``KEY ROLE`` per line; ``#`` comments and blank lines are skipped."""
    keys: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        # Only whole-line comments: a key may contain any other character.
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ConfigError(f"{source} line {number}: expected 'KEY ROLE', got {len(fields)} fields")
        key, role = fields
        if role not in ROLE_ALLOWS:
            raise ConfigError(
                f"{source} line {number}: unknown role {role!r} (use {', '.join(sorted(ROLE_ALLOWS))})"
            )
        if key in keys and keys[key] != role:
            raise ConfigError(f"{source} line {number}: key listed twice with different roles")
        keys[key] = role
    return keys
