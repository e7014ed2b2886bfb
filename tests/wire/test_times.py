"""Times and spans in queries (picloud/wire/times.py)."""

from __future__ import annotations

import pytest

from picloud.exceptions import ProtocolError
from picloud.wire.times import parse_span, parse_time, rfc3339

NOW = 1796000000.0


@pytest.mark.parametrize(("text", "seconds"), [
    ("now", NOW), ("-24h", NOW - 86400), ("24h", NOW - 86400), (" -90m ", NOW - 5400), ("1.5d", NOW - 129600),
    ("1796000000", NOW), ("-5", -5.0), ("2026-11-30T00:53:20Z", NOW), ("2026-11-30T01:53:20+01:00", NOW),
    ("2026-11-30T00:53:20", NOW),  # no offset: UTC
    ("0001-01-01T00:00:00Z", -62135596800.0),
])
def test_times(text, seconds):
    assert parse_time(text, NOW) == seconds


@pytest.mark.parametrize("text", [
    "", "yesterday", "nan", "inf", "-inf", "1e400", "24 h", "+1h",
    # Outside the years 1 to 9999: no answer or error could name them.
    "99999999999999999999", "-99999999999y", "9999-12-31T23:59:59-01:00", "9" * 400 + "y",
])
def test_what_is_no_time_is_refused_naming_it(text):
    with pytest.raises(ProtocolError) as info:
        parse_time(text, NOW, "from")
    assert str(info.value) == f"'from' must be RFC 3339, Unix seconds or like -24h, not {text[:40]!r}"


@pytest.mark.parametrize(("text", "seconds"), [("60", 60.0), ("5m", 300.0), ("1.5h", 5400.0), ("0.5", 0.5)])
def test_spans(text, seconds):
    assert parse_span(text) == seconds


@pytest.mark.parametrize("text", ["0", "0s", "0.0m", "-5", "-1m", "nan", "inf", "fast", ""])
def test_a_span_is_more_than_nothing(text):
    with pytest.raises(ProtocolError, match=f"'step' must be seconds > 0 or like 5m, not {text!r}"):
        parse_span(text)


def test_rfc3339_is_utc_with_milliseconds_and_four_digit_years():
    assert rfc3339(NOW + 0.25) == "2026-11-30T00:53:20.250Z"
    assert rfc3339(-62135596800.0) == "0001-01-01T00:00:00.000Z"
