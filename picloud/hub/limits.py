"""Limits that keep one client from taking the hub from the others, whatever
protocol it speaks: the size of a batch and the publish rate.

Message sizes and the connection cap are the front ends' (server/: Tornado
closes a websocket message over ``max_message_bytes`` with 1009, HTTP
bodies get 413; server/openfiles.py keeps the cap under the open-files
limit).
"""

from __future__ import annotations

import time

from ..exceptions import ProtocolError

#: Over-rate frames in a row before a publisher is closed with 1008.
MAX_RATE_VIOLATIONS = 10


def batch_over_limit(count: int, limit: int) -> ProtocolError:
    """The refusal of a batch of ``count`` messages over ``limit``."""
    return ProtocolError(f"batch of {count} messages is over the limit of {limit}")


class ByteBudget:
    """Bytes that many buffers share: what every connection holds of messages
    not yet complete, so that many connections cannot add up to an outage."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> bool:
        if self.used + count > self.limit:
            return False
        self.used += count
        return True

    def give(self, count: int) -> None:
        self.used -= count


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
