"""Reading the readings back (picloud/stores/sqlite/query.py): raw where
there are few points, aggregated from the finest rollup the step allows."""

from __future__ import annotations

import math

import pytest

from picloud.stores.sqlite import query
from picloud.stores.sqlite.query import MAX_POINTS, nice_step
from tests.stores.sqlite.support import Recorded

DAY = 86400
T0 = 1_796_000_400  # a whole hour


def wave(t: float) -> float:
    return round(20 + 5 * math.sin(t / DAY * 2 * math.pi), 3)


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """A reading every 10 minutes for a year, and every 2 s in its last hour."""
    store = Recorded(tmp_path_factory.mktemp("year"))
    times = [T0 + i * 600 for i in range(365 * 144)]
    last = times[-1]
    times += [last + 2 * i for i in range(1, 1800)]
    for start in range(0, len(times), 5000):
        store.record(*[(t, "outside", wave(t)) for t in times[start:start + 5000]])
    yield store, times
    store.close()


def read(store, start, end, step=None):
    return store.db.read_now(lambda conn: query.read(conn, "outside", start, end, step))


def expected(times, start, end, step):
    buckets: dict[int, list[float]] = {}
    for t in times:
        if start <= t <= end:
            buckets.setdefault(int(t // step) * step, []).append(wave(t))
    return buckets


def test_a_year_is_about_a_thousand_points_from_the_hour_rollups(year):
    store, times = year
    start, end = times[0], times[-1]
    (series,) = read(store, start, end)["series"]
    assert series["raw"] is False and series["step"] == 43200
    assert 700 <= len(series["t"]) <= MAX_POINTS
    want = expected(times, start, end, 43200)
    assert series["t"] == sorted(want)
    for i, bucket in enumerate(series["t"]):
        values = want[bucket]
        assert series["count"][i] == len(values)
        assert series["min"][i] == min(values) and series["max"][i] == max(values)
        assert series["mean"][i] == pytest.approx(sum(values) / len(values))
        assert series["last"][i] == values[-1]


def test_a_day_comes_from_the_minute_rollups(year):
    store, times = year
    end = times[-1]
    start = end - DAY
    (series,) = read(store, start, end)["series"]
    assert series["step"] == nice_step(DAY) == 120
    want = expected(times, int(start // 60) * 60, end, 120)
    assert dict(zip(series["t"], series["count"])) == {b: len(v) for b, v in want.items()}


def test_an_hour_of_few_points_is_raw(year):
    store, times = year
    end = times[-1]
    (series,) = read(store, end - 1000, end)["series"]
    assert series["raw"] is True
    assert series["t"] == [t for t in times if t >= end - 1000]
    assert series["value"] == [wave(t) for t in series["t"]]


def test_a_step_asked_for_aggregates_even_few_points(year):
    store, times = year
    end = times[-1]
    (series,) = read(store, end - 600, end, step=60)["series"]
    assert series["raw"] is False and series["step"] == 60
    assert sum(series["count"]) == len([t for t in times if t >= int((end - 600) // 60) * 60])


def test_where_raw_points_expired_the_rollups_answer(tmp_path):
    store = Recorded(tmp_path)
    try:
        store.record(*[(T0 + i * 60, "outside", float(i)) for i in range(100)])
        store.db.write_now(lambda conn: conn.execute("DELETE FROM points WHERE t < ?", (T0 + 90 * 60,)))
        (series,) = read(store, T0, T0 + 100 * 60)["series"]
        assert series["raw"] is False
        assert sum(series["count"]) == 100
    finally:
        store.close()


def test_nothing_in_the_range_and_an_unknown_event(year):
    store, times = year
    (series,) = read(store, times[0] - 10 * DAY, times[0] - DAY)["series"]
    assert series["t"] == []
    assert store.db.read_now(lambda conn: query.read(conn, "nope", 0, 1))["series"] == []


def test_the_list_of_events_with_their_series(year):
    store, times = year
    (listed,) = store.db.read_now(lambda conn: query.events(conn, None))
    assert listed["event"] == "outside" and listed["count"] == len(times)
    assert listed["first"] == times[0] and listed["last"] == times[-1]
    assert listed["series"][0]["value"] == wave(times[-1])
    assert store.db.read_now(lambda conn: query.events(conn, lambda name: name != "outside")) == []


@pytest.mark.parametrize(("span", "step"), [(3600, 5), (DAY, 120), (7 * DAY, 900), (30 * DAY, 3600),
                                             (365 * DAY, 43200), (20 * 365 * DAY, 2592000)])
def test_nice_steps(span, step):
    assert nice_step(span) == step
    assert span / step <= MAX_POINTS


def test_a_point_past_one_a_second_opening_a_minute_keeps_a_short_range_raw(tmp_path):
    store = Recorded(tmp_path)
    try:
        # The point at +60.2 goes to the rollups only (0.7 s after the raw one),
        # yet it opens minute +60: a range from there is still wholly raw.
        store.record((T0 + 59.5, "outside", 1.0), (T0 + 60.2, "outside", 2.0), (T0 + 125, "outside", 3.0))
        (series,) = read(store, T0 + 60, T0 + 180)["series"]
        assert series["raw"] is True and series["value"] == [3.0]
    finally:
        store.close()
