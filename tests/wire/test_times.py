"""Times in queries (picloud/wire/times.py)."""

from __future__ import annotations

import pytest

from picloud.exceptions import ProtocolError
from picloud.wire.times import parse_span, parse_time, rfc3339

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW), ("-24h", NOW - 86400), ("24h", NOW - 86400), ("-90m", NOW - 5400), ("-7d", NOW - 7 * 86400),
    ("-1y", NOW - 365 * 86400), ("-1.5h", NOW - 5400), ("1700000000", 1_700_000_000.0),
    ("2026-12-01T15:00:00Z", 1796137200.0), ("2026-12-01T16:00:00+01:00", 1796137200.0),
    ("2026-12-01T15:00:00", 1796137200.0),  # no zone: UTC
])
def test_forms(text, expected):
    assert parse_time(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "", "-24x", "nan", "inf", "2026-13-01"])
def test_bad_times_name_the_value_and_the_parameter(text):
    with pytest.raises(ProtocolError, match=f"'from' must be .*{text!r}"):
        parse_time(text, NOW, "from")


@pytest.mark.parametrize(("text", "expected"), [("60", 60), ("5m", 300), ("1h", 3600), ("0.5", 0.5)])
def test_spans(text, expected):
    assert parse_span(text) == expected


@pytest.mark.parametrize("text", ["0", "-5m", "-1", "x", "nan"])
def test_bad_spans(text):
    with pytest.raises(ProtocolError, match="'step' must be seconds > 0"):
        parse_span(text)


def test_rfc3339_is_utc_with_milliseconds():
    assert rfc3339(1796137200.25) == "2026-12-01T15:00:00.250Z"
