"""What in a message is a reading (picloud/stores/sqlite/points.py)."""

from __future__ import annotations

import pytest

from picloud.stores.sqlite.points import MAX_FIELDS, discovered_unit, numbers, unit_of


@pytest.mark.parametrize(("data", "expected"), [
    (21.5, [("", 21.5)]),
    (3, [("", 3.0)]),
    (True, [("", 1.0)]),
    ({"contact": False, "battery": 97, "linkquality": 120}, [("contact", 0.0), ("battery", 97.0),
                                                              ("linkquality", 120.0)]),
    ({"Time": "2026-12-01T10:00:00", "ENERGY": {"Power": 12, "Voltage": 231.5, "Today": 0.4}},
     [("ENERGY.Power", 12.0), ("ENERGY.Voltage", 231.5), ("ENERGY.Today", 0.4)]),
    ("ON", []), (None, []), ([1, 2, 3], []), ({"state": "ON", "list": [1]}, []),
    ({"a": {"b": {"c": {"d": {"e": 1}}}}}, []),  # deeper than MAX_DEPTH
])
def test_numbers(data, expected):
    assert numbers(data) == expected


def test_an_object_with_many_fields_is_cut():
    assert len(numbers({f"f{i}": i for i in range(500)})) == MAX_FIELDS


def test_a_unit_field_beside_the_numbers():
    assert unit_of({"value": 21.5, "unit": "°C"}) == "°C"
    assert unit_of({"value": 21.5, "unit": 3}) is None
    assert unit_of(21.5) is None


def test_home_assistant_discovery_as_zigbee2mqtt_sends_it():
    config = {"state_topic": "zigbee2mqtt/kitchen", "unit_of_measurement": "°C",
              "value_template": "{{ value_json.temperature }}", "device_class": "temperature"}
    assert discovered_unit("homeassistant/sensor/0x00158d0001/temperature/config", config) == (
        "zigbee2mqtt/kitchen", "temperature", "°C")


def test_home_assistant_discovery_abbreviated_as_tasmota_sends_it():
    config = {"~": "tele/plug", "stat_t": "~/SENSOR", "unit_of_meas": "W",
              "val_tpl": "{{value_json['ENERGY']['Power']}}"}
    assert discovered_unit("homeassistant/sensor/plug_power/config", config) == ("tele/plug/SENSOR",
                                                                                   "ENERGY.Power", "W")


def test_a_plain_state_topic_has_the_plain_field():
    config = {"state_topic": "home/temp", "unit_of_measurement": "°C"}
    assert discovered_unit("homeassistant/sensor/t/config", config) == ("home/temp", "", "°C")


@pytest.mark.parametrize(("event", "config"), [
    ("homeassistant/sensor/t/state", {"state_topic": "a", "unit_of_measurement": "°C"}),
    ("other/sensor/t/config", {"state_topic": "a", "unit_of_measurement": "°C"}),
    ("homeassistant/sensor/t/config", {"state_topic": "a"}),
    ("homeassistant/sensor/t/config", {"unit_of_measurement": "°C"}),
    ("homeassistant/sensor/t/config", "not an object"),
])
def test_not_a_discovery_config(event, config):
    assert discovered_unit(event, config) is None
