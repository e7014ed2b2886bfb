"""Keys with roles: where they come from, what each role may do, and rotation.

Besides the single ``API_KEY`` (role ``admin``), an owner can keep keys in a
file, one per line with its role::

    # dashboard on the kitchen tablet: may watch, may not publish
    6f1c0e...  subscribe
    91ab33...  publish
    d00d5e...  admin

``SIGHUP`` reads the files again (server/reload.py): connections whose key
is still valid for their route stay, the others are closed with 1008.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..config import Config
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


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path!r} is not utf-8 text") from None


def keys_from_config(config: Config) -> dict[str, str]:
    """Every key the settings name, with its role. Reads the key files."""
    keys: dict[str, str] = {}
    keys_file = getattr(config, "keys_file", None)
    if keys_file:
        keys.update(parse_keys_file(_read(keys_file, "keys file"), f"keys file {keys_file!r}"))
    api_key_file = getattr(config, "api_key_file", None)
    if api_key_file:
        key = _read(api_key_file, "api key file").strip()
        if not key or len(key.split()) != 1:
            raise ConfigError(f"api key file {api_key_file!r} must hold exactly one key")
        keys[key] = ADMIN
    if config.api_key:
        keys[config.api_key] = ADMIN
    return keys
