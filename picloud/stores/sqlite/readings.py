"""Recorded messages into the database: run on the writer thread, once an
interval, for everything the hub's Recorder collected (hub/recording.py).

Per message: its frame is kept as a raw message, and each number in it
(points.py) becomes a point of its series (one per event and field) and goes
into that series' 1-minute and 1-hour rollups, merged in memory first so a
burst is one row per series and bucket. Beyond one raw point a second per
series (and one raw message a second per event), only the rollups take it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

import ujson

from ...hub.recording import Entry
from .points import discovered_unit, numbers, unit_of

log = logging.getLogger("picloud.store")

#: Seconds between two raw points of a series (and raw messages of an event).
RAW_EVERY = 1.0

Rollup = list[float]  # count, min, max, sum, last


class Readings:
    """The writer's view of the recorded series (touched on the writer thread only)."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.events: dict[str, int] = {}
        self.series: dict[tuple[int, str], int] = {}
        self.units: dict[tuple[str, str], str] = {}
        self._last_raw: dict[int, float] = {}
        self._last_message: dict[int, float] = {}
        self.dropped: dict[str, int] = {"series_limit": 0, "unreadable": 0}
        self.rollup_only = 0  # points past one a second: in the rollups, not raw
        self._series_limit_logged = False

    def load(self, conn: sqlite3.Connection) -> None:
        self.events = {name: id_ for id_, name in conn.execute("SELECT id, name FROM events")}
        self.series = {(event, field): id_ for id_, event, field in conn.execute("SELECT id, event, field FROM series")}
        units = conn.execute("SELECT topic, field, unit FROM units")
        self.units = {(topic, field): unit for topic, field, unit in units}
        self._last_raw = dict(conn.execute("SELECT series, max(t) FROM points GROUP BY series"))
        self._last_message = dict(conn.execute("SELECT event, max(t) FROM messages GROUP BY event"))

    def forget(self, conn: sqlite3.Connection) -> None:
        """After a trim removed events and series: reload what is left."""
        self.load(conn)

    def write(self, conn: sqlite3.Connection, entries: Sequence[Entry]) -> None:
        messages: list[tuple[int, float, bytes]] = []
        points: list[tuple[int, float, float]] = []
        minutes: dict[tuple[int, int], Rollup] = {}
        hours: dict[tuple[int, int], Rollup] = {}
        events_seen: dict[int, list[float]] = {}  # id -> first, last, count
        series_seen: dict[int, list[float]] = {}  # id -> first, last, count, value
        for t, message in entries:
            try:
                data = ujson.loads(message.payload).get("data")
            except (ValueError, AttributeError):
                self.dropped["unreadable"] += 1
                continue
            discovered = discovered_unit(message.event, data)
            if discovered is not None:
                self._learn_unit(conn, *discovered)
            event_id = self._event_id(conn, message.event, t)
            if event_id is None:
                continue
            seen = events_seen.get(event_id)
            if seen is None:
                events_seen[event_id] = [t, t, 1]
            else:
                seen[1] = t
                seen[2] += 1
            if t - self._last_message.get(event_id, float("-inf")) >= RAW_EVERY:
                self._last_message[event_id] = t
                messages.append((event_id, t, message.payload))
            found = numbers(data)
            if not found:
                continue
            unit = unit_of(data)
            minute, hour = int(t // 60) * 60, int(t // 3600) * 3600
            for field, value in found:
                series_id = self._series_id(conn, event_id, message.event, field, unit, t, value)
                if series_id is None:
                    continue
                if t - self._last_raw.get(series_id, float("-inf")) >= RAW_EVERY:
                    self._last_raw[series_id] = t
                    points.append((series_id, t, value))
                else:
                    self.rollup_only += 1
                _merge(minutes, (series_id, minute), value)
                _merge(hours, (series_id, hour), value)
                kept = series_seen.get(series_id)
                if kept is None:
                    series_seen[series_id] = [t, t, 1, value]
                else:
                    kept[1], kept[3] = t, value
                    kept[2] += 1
        conn.executemany("INSERT INTO messages (event, t, frame) VALUES (?, ?, ?)", messages)
        conn.executemany("INSERT OR REPLACE INTO points (series, t, value) VALUES (?, ?, ?)", points)
        for table, rollups in (("minutes", minutes), ("hours", hours)):
            conn.executemany(
                f"INSERT INTO {table} (series, t, count, min, max, sum, last) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (series, t) DO UPDATE SET count = count + excluded.count, "
                "min = min(min, excluded.min), max = max(max, excluded.max), sum = sum + excluded.sum, "
                "last = excluded.last",
                [(s, b, *r) for (s, b), r in rollups.items()],
            )
        conn.executemany("UPDATE events SET last = ?, count = count + ? WHERE id = ?",
                         [(last, count, id_) for id_, (_, last, count) in events_seen.items()])
        conn.executemany("UPDATE series SET last = ?, count = count + ?, value = ? WHERE id = ?",
                         [(last, count, value, id_) for id_, (_, last, count, value) in series_seen.items()])

    def _event_id(self, conn: sqlite3.Connection, name: str, t: float) -> int | None:
        event_id = self.events.get(name)
        if event_id is None:
            if len(self.events) >= self.max_series:  # events without numbers count too
                self._over_limit(name, "")
                return None
            cursor = conn.execute("INSERT INTO events (name, first, last, count) VALUES (?, ?, ?, 0)", (name, t, t))
            event_id = self.events[name] = int(cursor.lastrowid or 0)
        return event_id

    def _series_id(self, conn: sqlite3.Connection, event_id: int, event: str, field: str,
                   unit: str | None, t: float, value: float) -> int | None:
        key = (event_id, field)
        series_id = self.series.get(key)
        if series_id is not None:
            return series_id
        if len(self.series) >= self.max_series:
            self._over_limit(event, field)
            return None
        unit = self.units.get((event, field)) or unit
        cursor = conn.execute(
            "INSERT INTO series (event, field, unit, first, last, count, value) VALUES (?, ?, ?, ?, ?, 0, ?)",
            (event_id, field, unit, t, t, value),
        )
        series_id = self.series[key] = int(cursor.lastrowid or 0)
        return series_id

    def _over_limit(self, event: str, field: str) -> None:
        self.dropped["series_limit"] += 1
        if not self._series_limit_logged:
            self._series_limit_logged = True
            log.warning("%d series and %d events recorded (--record-max-series): %r field %r and later new ones "
                        "are not recorded", len(self.series), len(self.events), event, field)

    def _learn_unit(self, conn: sqlite3.Connection, topic: str, field: str, unit: str) -> None:
        if self.units.get((topic, field)) == unit:
            return
        self.units[topic, field] = unit
        conn.execute("INSERT OR REPLACE INTO units (topic, field, unit) VALUES (?, ?, ?)", (topic, field, unit))
        event_id = self.events.get(topic)
        if event_id is not None:
            conn.execute("UPDATE series SET unit = ? WHERE event = ? AND field = ?", (unit, event_id, field))

    def counts(self) -> dict[str, Any]:
        return {"series": len(self.series), "events": len(self.events)}


def _merge(rollups: dict[tuple[int, int], Rollup], key: tuple[int, int], value: float) -> None:
    rollup = rollups.get(key)
    if rollup is None:
        rollups[key] = [1, value, value, value, value]
    else:
        rollup[0] += 1
        if value < rollup[1]:
            rollup[1] = value
        if value > rollup[2]:
            rollup[2] = value
        rollup[3] += value
        rollup[4] = value
