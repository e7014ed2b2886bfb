"""Many events' recent series at once (picloud/stores/sqlite/sparklines.py):
means per step from the rollups, never the raw points."""

from __future__ import annotations

import pytest

from picloud.stores.sqlite import sparklines
from picloud.stores.sqlite.sparklines import sparkline_step
from tests.stores.sqlite.support import Recorded

T0 = 1_796_000_400  # a whole hour
HOUR = 3600


@pytest.fixture
def recorded(tmp_path):
    store = Recorded(tmp_path)
    yield store
    store.close()


def read(store, start, end, points=60, events=None, allowed=None, max_events=500):
    return store.db.read_now(lambda conn: sparklines.read(conn, start, end, points, events, allowed, max_events))


def test_steps_are_whole_minutes_or_whole_hours():
    assert sparkline_step(6 * HOUR, 60) == 360  # 6 minutes: 60 points
    assert sparkline_step(HOUR, 200) == 60  # never under a minute
    assert sparkline_step(59 * 60 * 60, 60) == 3540
    assert sparkline_step(7 * 24 * HOUR, 60) == 3 * HOUR  # 56 points
    assert sparkline_step(HOUR, 0) == HOUR


def test_the_mean_per_step_of_every_series_from_the_minute_rollups(recorded):
    # temp: one reading every 30 s for 6 hours; the plug: two fields, a text, every 5 minutes.
    recorded.record(*[(T0 + i * 30, "temp", 20 + (i % 12)) for i in range(6 * 120)])
    recorded.record(*[(T0 + i * 300, "tele/plug/SENSOR", {"Power": i, "Voltage": 230, "State": "ON"})
                      for i in range(72)])
    recorded.record((T0, "text", "ON"))  # no numbers: no sparkline
    got = read(recorded, T0, T0 + 6 * HOUR, points=60)
    assert (got["from"], got["to"], got["step"], got["truncated"]) == (T0, T0 + 6 * HOUR, 360, False)
    assert list(got["events"]) == ["temp", "tele/plug/SENSOR"]  # the last recorded first
    (temp,) = got["events"]["temp"]
    assert (temp["field"], temp["unit"]) == ("", None)
    assert temp["t"] == [T0 + i * 360 for i in range(60)]
    assert temp["mean"] == [pytest.approx(25.5)] * 60  # 12 readings 20..31 each step
    power, voltage = got["events"]["tele/plug/SENSOR"]
    assert (power["field"], voltage["field"]) == ("Power", "Voltage")
    assert power["mean"][:3] == [0.5, 2.0, 3.0] and voltage["mean"] == [230.0] * 60
    # Never the raw points: with them gone, the answer is the same.
    recorded.db.write_now(lambda conn: conn.execute("DELETE FROM points"))
    assert read(recorded, T0, T0 + 6 * HOUR, points=60) == got


def test_long_spans_come_from_the_hour_rollups(recorded):
    start = T0 + 3 * HOUR - T0 % (3 * HOUR)  # steps are whole multiples of themselves since 1970
    recorded.record(*[(start + i * 600, "outside", float(i // 6)) for i in range(7 * 24 * 6)])  # a week
    recorded.db.write_now(lambda conn: conn.execute("DELETE FROM minutes"))  # the hours hold it all
    got = read(recorded, start, start + 7 * 24 * HOUR, points=60)
    (series,) = got["events"]["outside"]
    assert got["step"] == 3 * HOUR and len(series["t"]) == 56 and series["t"][0] == start
    assert series["mean"][:2] == [1.0, 4.0]  # hours 0, 1, 2 then 3, 4, 5
    unaligned = read(recorded, start + HOUR, start + 7 * 24 * HOUR, points=60)["events"]["outside"][0]
    assert unaligned["t"][0] == start and unaligned["mean"][0] == 1.5  # the first step: its hours in range


def test_only_the_range_and_the_events_asked_for(recorded):
    recorded.record(*[(T0 + i * 60, "a", i) for i in range(120)], (T0, "b", 1.0))
    got = read(recorded, T0 + HOUR, T0 + 2 * HOUR, points=60)
    (a,) = got["events"]["a"]
    assert a["t"][0] == T0 + HOUR and a["t"][-1] == T0 + 2 * HOUR - 60 and len(a["t"]) == 60
    assert got["events"]["b"] == [{"field": "", "unit": None, "t": [], "mean": []}]  # nothing lately
    named = read(recorded, T0, T0 + HOUR, events=["b", "never", "a"])
    assert list(named["events"]) == ["b", "never", "a"] and named["events"]["never"] == []
    assert list(read(recorded, T0, T0 + HOUR, allowed=lambda event: event != "a")["events"]) == ["b"]


def test_past_the_cap_the_most_recently_recorded_and_truncated(recorded):
    recorded.record(*[(T0 + i, f"e{i}", i) for i in range(5)])
    got = read(recorded, T0, T0 + HOUR, max_events=3)
    assert list(got["events"]) == ["e4", "e3", "e2"] and got["truncated"] is True
    assert read(recorded, T0, T0 + HOUR, max_events=5)["truncated"] is False
    kept = read(recorded, T0, T0 + HOUR, max_events=3, allowed=lambda event: event != "e3")
    assert list(kept["events"]) == ["e4", "e2", "e1"]
