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
