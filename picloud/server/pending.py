"""Connections that have not yet shown a key, capped in total and per address.

Until a request on it presents a valid key, a connection is pending: it holds
a file descriptor and a slot of the listen queue while costing its sender
nothing. Without a cap, a thousand half-sent keyless requests take every
descriptor and a real subscriber's connection is reset. Mosquitto and NATS
bound the same thing (max_connections, the auth timeout); here the bound is
on the unauthenticated alone, so the devices already in are never the ones
refused.

A connection leaves this count when a request on it passes the key check
(server/access.py, server/fastpublish.py) or when it closes. Behind a
reverse proxy every connection comes from the proxy, so with ``--xheaders``
the per-address cap does not apply at accept time (the proxy holds the slow
clients itself); the total does.

One that keeps sending requests without a valid key (401 after 401, or only
the keyless routes: the health check, the dashboard's files) would keep its
place for as long as it likes, so it has ``key_timeout`` seconds from its
accept to show one (the handshake timeout; NATS's auth timeout is the same
idea): past that, its next request is answered with ``Connection: close``
and the connection closed after it (``overdue``, read by
server/keepalive.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable

log = logging.getLogger("picloud.pending")


class Pending:
    def __init__(self, max_total: int, max_per_address: int, per_address: bool = True,
                 key_timeout: float = 5.0) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.per_address = per_address
        self.total = 0
        self.refused = 0
        self._by_address: dict[str, int] = {}
        # connection -> its address key and the monotonic time it was admitted
        self._connections: dict[Hashable, tuple[str, float]] = {}
        self.key_timeout = key_timeout
        self._full_logged: set[str] = set()  # what was logged since the count last fell

    def admit(self, connection: Hashable, address: str) -> bool:
        """Count ``connection`` as pending; False when a cap is reached (the
        caller hangs up)."""
        if self.total >= self.max_total:
            return self._refuse("", f"{self.max_total} connections are waiting to show a key: refusing more")
        key = address if self.per_address else ""
        if key and self._by_address.get(key, 0) >= self.max_per_address:
            return self._refuse(
                key, f"{self.max_per_address} connections from {address} are waiting to show a key: refusing more",
            )
        self.total += 1
        if key:
            self._by_address[key] = self._by_address.get(key, 0) + 1
        self._connections[connection] = (key, time.monotonic())
        return True

    def settle(self, connection: Hashable) -> None:
        """``connection`` showed a key, or closed: it is pending no more."""
        entry = self._connections.pop(connection, None)
        if entry is None:
            return
        key = entry[0]
        self.total -= 1
        self._full_logged.discard("")
        if key:
            left = self._by_address[key] - 1
            if left:
                self._by_address[key] = left
            else:
                del self._by_address[key]
            self._full_logged.discard(key)

    def is_pending(self, connection: Hashable) -> bool:
        return connection in self._connections

    def overdue(self, connection: Hashable) -> bool:
        """Whether ``connection`` is still pending ``key_timeout`` seconds after its accept."""
        entry = self._connections.get(connection)
        return entry is not None and time.monotonic() - entry[1] > self.key_timeout

    def addresses(self) -> int:
        return len(self._by_address)

    def _refuse(self, key: str, message: str) -> bool:
        self.refused += 1
        # Once per flood, not once per connection: a flood would fill the log.
        if key not in self._full_logged and len(self._full_logged) < 1000:
            self._full_logged.add(key)
            log.warning("%s", message)
        return False
