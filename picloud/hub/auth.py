"""How a presented API key is checked."""

from __future__ import annotations

import hashlib
import hmac

from .keys import ADMIN_GRANT, Grant


class Authenticator:
    """Checks presented keys in constant time; ``None`` keys means no auth."""

    def __init__(self, keys: dict[str, Grant] | None) -> None:
        # key -> grant; encoded once so the comparison does no allocation
        self._keys = None if keys is None else [(k.encode("utf-8", "surrogatepass"), g) for k, g in keys.items()]

    def replace(self, keys: dict[str, Grant]) -> None:
        """Swap in a new key set (rotation, which then rechecks connections)."""
        self._keys = [(k.encode("utf-8", "surrogatepass"), g) for k, g in keys.items()]

    @property
    def open(self) -> bool:
        return self._keys is None

    def fingerprints(self) -> list[tuple[bytes, Grant]]:
        """Each key's fingerprint (hub/keys.py) and grant: to find the key a
        saved session was made under without keeping the key."""
        return [(hashlib.sha256(key).digest(), grant) for key, grant in self._keys or ()]

    def role_of(self, presented: str | None) -> str | None:
        """The role the key grants, or None when it grants nothing."""
        grant = self.grant_of(presented)
        return None if grant is None else grant.role

    def grant_of(self, presented: str | None) -> Grant | None:
        """What the key grants (hub/keys.py), or None when it grants nothing."""
        if self._keys is None:
            return ADMIN_GRANT
        if not presented:
            return None
        candidate = presented.encode("utf-8", "surrogatepass")
        found = None
        # Compare against every key, even after a match, so the time taken
        # does not tell which key (or how many) exist.
        for key, grant in self._keys:
            if hmac.compare_digest(candidate, key):
                found = grant
        return found
