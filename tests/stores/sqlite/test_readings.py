"""Recorded messages into the database (picloud/stores/sqlite/readings.py)."""

from __future__ import annotations

import pytest

from tests.stores.sqlite.support import Recorded

T0 = 1_796_000_400.0  # a whole hour


@pytest.fixture
def recorded(tmp_path):
    store = Recorded(tmp_path)
    yield store
    store.close()


def test_raw_points_at_most_one_a_second_and_every_value_in_the_rollups(recorded):
    recorded.record(*[(T0 + i * 0.25, "temp", 20 + i) for i in range(8)])  # 4 a second for 2 s
    assert recorded.query("SELECT t, value FROM points") == [(T0, 20.0), (T0 + 1.0, 24.0)]
    assert recorded.query("SELECT t, count, min, max, sum, last FROM minutes") == [
        (int(T0), 8, 20.0, 27.0, sum(range(20, 28)), 27.0)]
    assert recorded.query("SELECT count FROM hours") == [(8,)]
    assert recorded.readings.rollup_only == 6
    # One raw message a second per event too: the frame as published.
    frames = recorded.query("SELECT t, frame FROM messages")
    assert [t for t, _ in frames] == [T0, T0 + 1.0]
    assert b'"data":20' in frames[0][1]


def test_rollups_merge_across_writes_and_buckets(recorded):
    recorded.record((T0 + 10, "temp", 1.0), (T0 + 70, "temp", 5.0))
    recorded.record((T0 + 20, "temp", 3.0), (T0 + 3600, "temp", 7.0))
    assert recorded.query("SELECT t, count, min, max, sum, last FROM minutes ORDER BY t") == [
        (int(T0), 2, 1.0, 3.0, 4.0, 3.0), (int(T0) + 60, 1, 5.0, 5.0, 5.0, 5.0),
        (int(T0) + 3600, 1, 7.0, 7.0, 7.0, 7.0)]
    assert recorded.query("SELECT t, count, min, max FROM hours ORDER BY t") == [
        (int(T0), 3, 1.0, 5.0), (int(T0) + 3600, 1, 7.0, 7.0)]


def test_one_series_per_numeric_field_with_the_latest_value(recorded):
    recorded.record((T0, "tele/plug/SENSOR", {"ENERGY": {"Power": 5, "Voltage": 230}}),
                    (T0 + 5, "tele/plug/SENSOR", {"ENERGY": {"Power": 7, "Voltage": 231}}),
                    (T0 + 6, "tele/plug/STATE", {"POWER": "ON"}))
    rows = recorded.query("SELECT e.name, s.field, s.count, s.value, s.first, s.last FROM series s "
                          "JOIN events e ON e.id = s.event ORDER BY s.field")
    assert rows == [("tele/plug/SENSOR", "ENERGY.Power", 2, 7.0, T0, T0 + 5),
                    ("tele/plug/SENSOR", "ENERGY.Voltage", 2, 231.0, T0, T0 + 5)]
    # A message without numbers is kept as a raw message, and its event listed.
    assert recorded.query("SELECT name, count FROM events ORDER BY name") == [
        ("tele/plug/SENSOR", 2), ("tele/plug/STATE", 1)]


def test_units_from_the_message_and_from_discovery_before_or_after(recorded):
    recorded.record((T0, "a", {"value": 1, "unit": "°C"}), (T0, "zigbee2mqtt/door", {"contact": True}))
    recorded.record((T0 + 1, "homeassistant/binary_sensor/d/contact/config",
                     {"state_topic": "zigbee2mqtt/door", "unit_of_measurement": "state",
                      "value_template": "{{ value_json.contact }}"}),
                    (T0 + 2, "homeassistant/sensor/b/config",
                     {"state_topic": "b", "unit_of_measurement": "%"}))
    recorded.record((T0 + 3, "b", 40))
    units = recorded.query("SELECT e.name, s.field, s.unit FROM series s JOIN events e ON e.id = s.event "
                           "ORDER BY e.name")
    assert units == [("a", "value", "°C"), ("b", "", "%"), ("zigbee2mqtt/door", "contact", "state")]


def test_past_the_series_limit_new_series_are_counted_not_recorded(tmp_path, caplog):
    store = Recorded(tmp_path, max_series=2)
    try:
        store.record((T0, "a", 1), (T0, "b", 2), (T0, "c", 3), (T0 + 1, "c", 4), (T0 + 1, "a", 5))
        assert [r[0] for r in store.query("SELECT field || e.name FROM series s JOIN events e ON e.id = s.event "
                                          "ORDER BY 1")] == ["a", "b"]
        assert store.readings.dropped["series_limit"] == 2
        assert sum("--record-max-series" in r.message for r in caplog.records) == 1
    finally:
        store.close()


def test_what_is_recorded_is_known_again_after_a_restart(tmp_path):
    store = Recorded(tmp_path)
    store.record((T0, "temp", 1))
    store.close()
    again = Recorded(tmp_path)
    try:
        again.record((T0 + 0.5, "temp", 2), (T0 + 1, "temp", 3))  # the 1/s rule holds across the restart
        assert again.query("SELECT t, value FROM points") == [(T0, 1.0), (T0 + 1, 3.0)]
        assert again.query("SELECT count(*) FROM series") == [(1,)]
    finally:
        again.close()


def test_a_frame_that_is_not_json_is_counted(recorded):
    recorded.db.write_now(lambda conn: recorded.readings.write(conn, [(T0, "x", b"not json")]))
    assert recorded.readings.dropped["unreadable"] == 1
    assert recorded.query("SELECT count(*) FROM events") == [(0,)]


def test_an_integer_past_any_float_is_counted_not_a_crash(recorded):
    recorded.record((T0, "big", {"n": 10**400, "ok": 1}), (T0 + 1, "big", 2))
    assert recorded.readings.dropped["unreadable"] == 1
    assert recorded.query("SELECT value FROM points") == [(2.0,)]


def test_messages_only_counted_add_to_their_events_count(recorded):
    batch = [(T0, "state", b'{"action":"publish","event":"state","data":"ON","created_at":"x"}')]
    recorded.db.write_now(lambda conn: recorded.readings.write(conn, batch, {"state": 4, "never-seen": 3}))
    assert recorded.query("SELECT name, count, last FROM events") == [("state", 5, T0)]
    assert recorded.query("SELECT count(*) FROM messages") == [(1,)]
