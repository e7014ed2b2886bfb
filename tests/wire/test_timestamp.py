"""utc_timestamp, which caches the formatted second between calls."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from picloud.wire.codec import utc_timestamp


@pytest.mark.parametrize("when", [0.0, 0.000001, 1e9, 1e9 + 0.5, 1764107013.433493, 1764107013.999999])
def test_matches_strftime(when):
    expected = datetime.fromtimestamp(int(when), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
    stamp = utc_timestamp(when)
    assert stamp.startswith(expected)
    assert stamp.endswith("Z")
    assert len(stamp) == len("2026-11-25T21:40:13.433493Z")
    assert stamp == datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_second_changes_with_the_time():
    assert utc_timestamp(1e9 + 0.9) == "2001-09-09T01:46:40.900000Z"
    assert utc_timestamp(1e9 + 1.25) == "2001-09-09T01:46:41.250000Z"
    assert utc_timestamp(1e9 + 0.9) == "2001-09-09T01:46:40.900000Z"
