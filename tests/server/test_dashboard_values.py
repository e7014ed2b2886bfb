"""What the dashboard reads out of messages and names
(picloud/static/dashboard/values.js), run by node: a live message's numbers
are the fields the hub records them as (picloud/stores/sqlite/points.py), so
a live point lands on the series its chart and card show; events group by
the device their names say; a device publishes what names it."""

from __future__ import annotations

import json
import subprocess

import pytest

from picloud.server.web import STATIC_DIR
from picloud.stores.sqlite.points import numbers

MESSAGES = [
    21.5, 0, -3, True, False, "ON", None, [1, 2],
    {"value": 21.5, "unit": "°C"},
    {"ENERGY": {"Power": 12, "Voltage": 231.5, "Today": 1.2}, "Time": "2026-12-01T10:00:00"},
    {"contact": True, "battery": 97, "linkquality": None, "update": {"state": "idle", "progress": 10}},
    {"a": {"b": {"c": {"d": {"e": 1}, "x": 2}}}},
    {str(i): i for i in range(80)},
    {"k" * 129: 1, "ok": 2},
    {"nan": "NaN", "list": [1, 2], "nested": {"deep": 1.5e300}},
]
NAMES = [
    ("tele/tasmota_4A1B2C/SENSOR", "tasmota_4A1B2C", "tele/SENSOR"),
    # One topic a device: Zigbee2MQTT's devices are cards of one group.
    ("zigbee2mqtt/front-door", "zigbee2mqtt", "front-door"),
    ("zigbee2mqtt/front-door/availability", "front-door", "zigbee2mqtt/availability"),
    ("homeassistant/sensor/plug/power/config", "plug", "homeassistant/sensor/power/config"),
    ("kitchen/temp", "kitchen", "temp"),
    ("hall", "", "hall"),
]
PUBLISHED = [
    ("DVES_4A1B2C", "tele/tasmota_4A1B2C/SENSOR", True),
    ("DVES_4A1B2C", "stat/tasmota_4A1B2C/POWER", True),
    ("porch-sensor", "porch-sensor/temp", True),
    ("porch-sensor", "kitchen-sensor/temp", False),  # "sensor" is no id
    ("kitchen", "kitchen/temp", True),
    ("DVES_4A1B2C", "tele/tasmota_FFFFFF/SENSOR", False),
]
SCRIPT = """
const vm = require("vm");
const fs = require("fs");
const root = {PiCloudDash: {}};
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), root);
const D = root.PiCloudDash;
const input = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({
    numbers: input.messages.map((m) => D.numbers(m)),
    groups: input.names.map((n) => [D.groupOf(n), D.labelIn(n, D.groupOf(n))]),
    published: input.published.map((p) => D.publishedBy(p[1], p[0])),
}));
"""


@pytest.fixture(scope="module")
def answers() -> dict:
    request = {"messages": MESSAGES, "names": [n[0] for n in NAMES], "published": [p[:2] for p in PUBLISHED]}
    result = subprocess.run(["node", "-e", SCRIPT, str(STATIC_DIR / "dashboard" / "values.js")],
                            input=json.dumps(request), capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("index", range(len(MESSAGES)))
def test_a_messages_numbers_are_the_fields_the_hub_records(answers, index) -> None:
    assert [tuple(pair) for pair in answers["numbers"][index]] == numbers(MESSAGES[index])


def test_events_group_by_the_device_their_names_say(answers) -> None:
    assert [tuple(g) for g in answers["groups"]] == [(group, label) for _, group, label in NAMES]


def test_a_device_publishes_what_names_it(answers) -> None:
    assert answers["published"] == [expected for *_, expected in PUBLISHED]
