"""How the Redis broker reaches Redis: the URL (checked, and redacted for
logs), client options, and closing what a lost session leaves behind."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from ...exceptions import ConfigError
from .membership import redact

CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


class RedisTarget:
    """One Redis URL; ``client()`` makes a connection to it."""

    def __init__(self, url: str) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise ConfigError("the redis broker needs redis-py: pip install 'picloud[redis]'") from None
        self.url = url
        self.safe_url = redact(url)
        self._password = urlsplit(url).password
        # Reconnecting is the broker's job: redis-py's own retries would hold
        # a failing command for seconds instead of letting the outbox take over.
        self._options = {
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": COMMAND_TIMEOUT,
            "socket_keepalive": True,
        }
        self._from_url = aioredis.from_url

    def check(self) -> None:
        """Refuse a URL redis-py cannot use, before the hub starts."""
        try:
            self.client()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad broker url {self.safe_url!r}: {self.scrub(exc)}") from None

    def client(self) -> Any:
        return self._from_url(self.url, **self._options)

    def scrub(self, exc: BaseException) -> str:
        """``exc`` as a log line, without the password."""
        text = str(exc) or type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text.rstrip(".").lower()


async def close_quietly(*closables: Any) -> None:
    for closable in closables:
        try:
            await asyncio.wait_for(closable.aclose(), 1.0)
        except Exception:  # the connection is already gone
            pass
