"""What in a message is a reading: its numbers, and their units.

A number, a boolean (as 0 or 1: Zigbee2MQTT's ``contact``), or the numeric
fields of an object, nested ones as dotted paths (Tasmota's
``ENERGY.Power``). A plain value's field is ``""``. A unit comes from a
``unit`` field beside the numbers, or from Home Assistant's discovery config
for the topic (``unit_of_measurement``, matched to a field by its
``value_template``).
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Numeric fields taken from one message; an object with more is cut here.
MAX_FIELDS = 64
MAX_DEPTH = 4
MAX_FIELD_CHARS = 128

# homeassistant/<component>/[<node_id>/]<object_id>/config
DISCOVERY = re.compile(r"^homeassistant/[^/]+/(?:[^/]+/)?[^/]+/config$")
# {{ value_json.ENERGY.Power }}, {{ value_json['temperature'] | round(1) }}
TEMPLATE_FIELD = re.compile(r"value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*['\"][^'\"]+['\"]\s*\])+)")
TEMPLATE_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\]")


def numbers(data: Any) -> list[tuple[str, float]]:
    """The numeric fields of one message's data, by field path."""
    found: list[tuple[str, float]] = []
    _walk(data, "", found, 0)
    return found


def _walk(value: Any, path: str, found: list[tuple[str, float]], depth: int) -> None:
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            return
        prefix = path + "." if path else ""
        for key, item in value.items():
            if len(found) >= MAX_FIELDS:
                return
            if type(key) is not str or len(key) > MAX_FIELD_CHARS:
                continue
            kind = type(item)
            # Flat fields inline: most readings are one level deep.
            if kind is int or (kind is float and math.isfinite(item)):
                found.append((prefix + key, float(item)))
            elif kind is bool:
                found.append((prefix + key, 1.0 if item else 0.0))
            elif kind is dict:
                _walk(item, prefix + key, found, depth + 1)
    elif kind is bool:
        found.append((path, 1.0 if value else 0.0))
    elif kind is int or (kind is float and math.isfinite(value)):
        found.append((path, float(value)))


def unit_of(data: Any) -> str | None:
    """A ``unit`` the message gives for its numbers."""
    if isinstance(data, dict):
        unit = data.get("unit")
        if isinstance(unit, str) and 0 < len(unit) <= 32:
            return unit
    return None


def discovered_unit(event: str, data: Any) -> tuple[str, str, str] | None:
    """(state topic, field, unit) from a Home Assistant discovery config."""
    if not DISCOVERY.match(event) or not isinstance(data, dict):
        return None
    unit = data.get("unit_of_measurement", data.get("unit_of_meas"))
    topic = data.get("state_topic", data.get("stat_t"))
    if not isinstance(unit, str) or not isinstance(topic, str) or not unit or len(unit) > 32:
        return None
    base = data.get("~")
    if isinstance(base, str):  # the abbreviation of a shared topic prefix
        if topic.startswith("~"):
            topic = base + topic[1:]
        elif topic.endswith("~"):
            topic = topic[:-1] + base
    template = data.get("value_template", data.get("val_tpl"))
    field = ""
    if isinstance(template, str):
        match = TEMPLATE_FIELD.search(template)
        if match:
            field = ".".join(a or b for a, b in TEMPLATE_PART.findall(match.group(1)))
    return topic, field, unit
