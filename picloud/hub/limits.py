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

    def wait(self) -> float:
        """Seconds until one token is there (0 if it is now)."""
        now = time.monotonic()
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        return max(0.0, (1.0 - tokens) / self.rate)

    def charge(self, count: float) -> None:
        """Take ``count`` more, going into debt: a batch costs one per message."""
        self.tokens -= count


#: Publishers whose buckets are kept; past this the longest idle is forgotten
#: (its bucket would be full again by then, or nearly).
MAX_PUBLISHERS = 10_000


class PublishRates:
    """One token bucket per publisher, a (key, client name) pair, whatever
    it publishes over: fresh sockets or HTTP requests share it. Per key alone
    would give a house whose devices share the generated key one bucket."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[tuple[bytes, str], TokenBucket] = {}

    def bucket(self, key: bytes | None, client_name: str) -> TokenBucket:
        buckets = self._buckets
        publisher = (key or b"", client_name)
        bucket = buckets.pop(publisher, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
            if len(buckets) >= MAX_PUBLISHERS:
                del buckets[next(iter(buckets))]
        buckets[publisher] = bucket  # most recently used last
        return bucket

    def error(self) -> ProtocolError:
        return ProtocolError(f"publish rate over {self.rate:g} messages/s: message refused")


class PublishRate:
    """A publish connection's share of its publisher's bucket, and how often
    in a row it has gone over."""

    __slots__ = ("bucket", "rate", "violations")

    def __init__(self, rate: float, bucket: TokenBucket) -> None:
        self.rate = rate
        self.bucket = bucket
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


#: Seconds over which failed keys from one address are counted.
AUTH_FAIL_WINDOW = 10.0
#: Addresses whose failures are remembered; past this the longest quiet go.
MAX_FAILING_ADDRESSES = 10_000


class AuthThrottle:
    """Blocks an address that keeps presenting wrong keys: after ``limit``
    failures within AUTH_FAIL_WINDOW seconds, every attempt from it is refused
    for ``block`` seconds, the right key included; other addresses are not."""

    def __init__(self, limit: int, block: float) -> None:
        self.limit = limit
        self.block = block
        self._failures: dict[str, list[float]] = {}  # address -> failure times, oldest first
        self._blocked: dict[str, float] = {}  # address -> when the block ends

    def blocked(self, address: str) -> bool:
        until = self._blocked.get(address)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._blocked[address]
        return False

    def failed(self, address: str) -> bool:
        """Count a wrong key from ``address``; True when that starts a block."""
        now = time.monotonic()
        blocked = self._blocked
        # Every block lasts as long, so the first to end come first.
        while blocked and (len(blocked) >= MAX_FAILING_ADDRESSES or next(iter(blocked.values())) <= now):
            del blocked[next(iter(blocked))]
        failures = self._failures.pop(address, [])
        failures = [t for t in failures if now - t < AUTH_FAIL_WINDOW][-self.limit:]
        failures.append(now)
        if len(failures) >= self.limit:
            blocked.pop(address, None)
            blocked[address] = now + self.block
            return True
        if len(self._failures) >= MAX_FAILING_ADDRESSES:
            del self._failures[next(iter(self._failures))]
        self._failures[address] = failures  # most recent last
        return False
