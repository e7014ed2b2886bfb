"""The publish rate's token bucket (picloud/hub/limits.py). The limits as the
routes enforce them are tested with the routes (server/test_sockets.py,
server/test_publish.py, server/test_reader.py, server/test_openfiles.py)."""

from __future__ import annotations

from picloud.hub.limits import TokenBucket


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate=1000, burst=2)
    assert bucket.take() and bucket.take()
    bucket.stamp -= 0.0015  # 1.5 ms later: one token back
    assert bucket.take()
    assert not bucket.take()
    bucket.charge(5)
    bucket.stamp -= 0.003
    assert not bucket.take()  # still paying off the batch


def test_the_throttle_forgets_blocks_that_ended_and_holds_at_most_its_cap(monkeypatch):
    from picloud.hub import limits

    throttle = limits.AuthThrottle(limit=1, block=0.0)
    for n in range(100):
        assert throttle.failed(f"10.0.{n}.1")  # each blocks at once, and its block ends at once
    assert len(throttle._blocked) <= 1
    monkeypatch.setattr(limits, "MAX_FAILING_ADDRESSES", 50)
    lasting = limits.AuthThrottle(limit=1, block=3600.0)
    for n in range(200):
        lasting.failed(f"10.1.{n}.1")
    assert len(lasting._blocked) <= 50 and lasting.blocked("10.1.199.1")
