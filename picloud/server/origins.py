"""Which browser origins may use the hub, and the CORS answers for them.

The API key is the capability and no cookie rides along, so by default any
origin may connect. ``--allowed-origin`` narrows that to the hub's own origin
plus the ones listed. Requests without an ``Origin`` header (devices,
scripts) are never affected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

CORS_ALLOW_HEADERS = "X-API-Key, X-API-Client-Name, Content-Type"
CORS_MAX_AGE = "600"


def normalize(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class OriginPolicy:
    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(normalize(o) for o in allowed if o.strip())

    @property
    def any(self) -> bool:
        return not self.allowed

    def allows(self, origin: str | None, host: str | None) -> bool:
        """True for no Origin, an allowed one, or the hub's own (same host as ``Host``)."""
        if origin is None or not self.allowed:
            return True
        origin = normalize(origin)
        if origin in self.allowed:
            return True
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:
            return False
        return bool(netloc) and netloc == (host or "").lower()

    def cors_headers(self, request: Any) -> dict[str, str]:
        """Headers that let an allowed page read the answer to its request."""
        origin = request.headers.get("Origin")
        if origin is None or not self.allows(origin, request.host):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight_headers(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": CORS_MAX_AGE,
        }
