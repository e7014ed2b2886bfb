"""API keys: where the hub's key comes from and how a presented key is checked."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from ..config import KEY_FILE_NAME
from ..exceptions import ConfigError
from .keys import ADMIN


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


class Authenticator:
    """Checks presented keys in constant time; ``None`` keys means no auth."""

    def __init__(self, keys: dict[str, str] | None) -> None:
        # key -> role; encoded once so the comparison does no allocation
        self._keys = None if keys is None else [(k.encode(), r) for k, r in keys.items()]

    def replace(self, keys: dict[str, str]) -> None:
        """Swap in a new key set (rotation); connections keep their role."""
        self._keys = [(k.encode("utf-8", "surrogatepass"), r) for k, r in keys.items()]

    @property
    def open(self) -> bool:
        return self._keys is None

    def role_of(self, presented: str | None) -> str | None:
        """The role the key grants, or None when it grants nothing."""
        if self._keys is None:
            return ADMIN
        if not presented:
            return None
        candidate = presented.encode("utf-8", "surrogatepass")
        found = None
        # Compare against every key, even after a match, so the time taken
        # does not tell which key (or how many) exist.
        for key, role in self._keys:
            if hmac.compare_digest(candidate, key):
                found = role
        return found
