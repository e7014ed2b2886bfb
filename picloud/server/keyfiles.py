"""The files keys come from: the key the hub generates once in its state
directory, the keys file and the single-key file (hub/keys.py says what a
key's role allows)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..config import KEY_FILE_NAME, Config
from ..exceptions import ConfigError
from ..hub.keys import ADMIN_GRANT, Grant, parse_keys_file


def load_or_create_key(state_dir: Path) -> tuple[str, bool]:
    """Return the key stored in ``state_dir``, generating it on first use.

    Devices are configured once with this key, so it must survive restarts:
    it is written once (mode 0600) and read back on every later start.
    Returns ``(key, created)``.
    """
    path = Path(state_dir) / KEY_FILE_NAME
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    except OSError as exc:
        raise ConfigError(f"cannot read api key file {str(path)!r}: {exc.strerror}") from None
    if key:
        return key, False
    key = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write api key file {str(path)!r}: {exc.strerror}") from None
    return key, True


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path!r} is not utf-8 text") from None


def keys_from_config(config: Config) -> dict[str, Grant]:
    """Every key the settings name, with what it grants. Reads the key files."""
    keys: dict[str, Grant] = {}
    keys_file = getattr(config, "keys_file", None)
    if keys_file:
        keys.update(parse_keys_file(_read(keys_file, "keys file"), f"keys file {keys_file!r}"))
    api_key_file = getattr(config, "api_key_file", None)
    if api_key_file:
        key = _read(api_key_file, "api key file").strip()
        if not key or len(key.split()) != 1:
            raise ConfigError(f"api key file {api_key_file!r} must hold exactly one key")
        keys[key] = ADMIN_GRANT
    if config.api_key:
        keys[config.api_key] = ADMIN_GRANT
    return keys
