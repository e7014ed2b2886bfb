"""Limits that keep one client, or many, from taking the hub down.

Incoming websocket messages over ``max_message_bytes`` are closed by Tornado
itself with 1009 (``websocket_max_message_size``); HTTP bodies are counted by
``PublishHTTP`` (413). This module holds the rest: the connection cap and the
open-files limit it must stay under, and the per-connection publish rate.
"""

from __future__ import annotations

import logging
import time

from .config import Config
from .exceptions import ProtocolError

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger("picloud.limits")

#: File descriptors kept free for listening sockets, handshakes that are not
#: yet websockets, the broker and log files.
SPARE_FDS = 64

#: File descriptors kept for the broker, logs and the refusals themselves:
#: a connection accepted into one of these is hung up at once.
RESERVED_FDS = 32

#: Over-rate frames in a row before a publisher is closed with 1008.
MAX_RATE_VIOLATIONS = 10


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; return the soft limit now in force."""
    if resource is None:  # pragma: no cover
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return hard if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-files limit from %d to %d: %s", soft, hard, exc)
        return soft
    return hard


def near_open_files_limit(fd: int) -> bool:
    """True when ``fd`` is among the last RESERVED_FDS the process may open.

    File descriptors are handed out lowest first, so a high one means the
    table is nearly full. The limit is read each time, so a change by
    ``prlimit`` counts at once; the syscall costs far less than the accept.
    """
    if resource is None:  # pragma: no cover
        return False
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft != resource.RLIM_INFINITY and fd >= soft - RESERVED_FDS


def fit_connection_cap(config: Config, open_files: int) -> None:
    """Keep ``max_connections`` below what the process can open, so that the
    hub refuses with 503 instead of spinning on EMFILE in accept()."""
    room = max(open_files - SPARE_FDS, 1)
    if config.max_connections > room:
        log.warning(
            "max connections lowered from %d to %d to fit the open-files limit of %d",
            config.max_connections, room, open_files,
        )
        config.max_connections = room


def over_batch_limit(count: int, limit: int) -> ProtocolError | None:
    if count > limit:
        return ProtocolError(f"batch of {count} messages is over the limit of {limit}")
    return None


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, count: float = 1.0) -> bool:
        now = time.monotonic()
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens < count:
            self.tokens = tokens
            return False
        self.tokens = tokens - count
        return True

    def charge(self, count: float) -> None:
        """Take ``count`` more, going into debt: a batch costs one per message."""
        self.tokens -= count


class PublishRate:
    """A publish connection's rate limit and how often it has broken it."""

    __slots__ = ("bucket", "rate", "violations")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.bucket = TokenBucket(rate, burst)
        self.violations = 0

    def admit(self) -> bool:
        if self.bucket.take():
            self.violations = 0
            return True
        self.violations += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.violations >= MAX_RATE_VIOLATIONS

    def error(self) -> ProtocolError:
        return ProtocolError(f"publish rate over {self.rate:g} messages/s: message refused")
