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
from collections.abc import Iterable, Mapping

import ujson

from ...hub.recording import Entry
from ...wire.framefields import NOT_NUMBERS
from .points import DISCOVERY, discovered_unit, numbers, unit_of

log = logging.getLogger("picloud.store")

#: Seconds between two raw points of a series (and raw messages of an event).
RAW_EVERY = 1.0

Rollup = list[float]  # count, min, max, sum, last
DATA_AT = b',"data":'
DATA_SKIP = len(DATA_AT)


class Readings:
    """The writer's view of the recorded series (touched on the writer thread only)."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.events: dict[str, int] = {}
        self._known: dict[str, tuple[int, bool]] = {}  # event -> its id, and whether it is a discovery config
        self.series: dict[tuple[int, str], int] = {}
        self.units: dict[tuple[str, str], str] = {}
        self._last_raw: dict[int, float] = {}
        self._last_message: dict[int, float] = {}
        self.dropped: dict[str, int] = {"series_limit": 0, "unreadable": 0}
        self.rollup_only = 0  # points past one a second: in the rollups, not raw
        self._series_limit_logged = False

    def load(self, conn: sqlite3.Connection) -> None:
        self.events = {name: id_ for id_, name in conn.execute("SELECT id, name FROM events")}
        self._known = {}
        self.series = {(event, field): id_ for id_, event, field in conn.execute("SELECT id, event, field FROM series")}
        units = conn.execute("SELECT topic, field, unit FROM units")
        self.units = {(topic, field): unit for topic, field, unit in units}
        self._last_raw = dict(conn.execute("SELECT series, max(t) FROM points GROUP BY series"))
        self._last_message = dict(conn.execute("SELECT event, max(t) FROM messages GROUP BY event"))

    def forget(self, conn: sqlite3.Connection) -> None:
        """After a trim or an expiry removed events and series: forget
        those (reading the two small tables, not the points)."""
        self.events = {name: id_ for id_, name in conn.execute("SELECT id, name FROM events")}
        self.series = {(event, field): id_ for id_, event, field in conn.execute("SELECT id, event, field FROM series")}
        self._known = {}
        series, events = set(self.series.values()), set(self.events.values())
        self._last_raw = {id_: t for id_, t in self._last_raw.items() if id_ in series}
        self._last_message = {id_: t for id_, t in self._last_message.items() if id_ in events}

    def write(self, conn: sqlite3.Connection, entries: Iterable[Entry], more: Mapping[str, int] | None = None) -> None:
        """Keep ``entries``; ``more`` counts messages of an event beside them
        that held no number (hub/recording.py ``Pending.more``)."""
        # The loop runs for every recorded message: what can be done once per
        # event, series or minute of the batch is done after it.
        messages: list[tuple[int, float, bytes]] = []
        points: list[tuple[int, float, float]] = []
        minutes: dict[tuple[int, int], Rollup] = {}
        latest: dict[int, tuple[float, float]] = {}  # series -> its last point's time and value
        events_seen: dict[int, list[float]] = {}  # id -> last, count
        known = self._known
        series_ids = self.series
        last_raw, last_message = self._last_raw, self._last_message
        never = float("-inf")
        loads = ujson.loads
        for t, event, frame in entries:
            # Parsed only where a number can be: text (most of what is not a
            # reading), lists and null are not. The event comes first in a
            # publish frame, and its name cannot hold the bytes looked for
            # (a quote in it is escaped).
            at = frame.find(DATA_AT)
            try:
                if at > 0 and frame[at + DATA_SKIP:at + DATA_SKIP + 1] in NOT_NUMBERS:
                    data = None
                else:
                    data = loads(frame).get("data")
            except (ValueError, AttributeError):
                self.dropped["unreadable"] += 1
                continue
            info = known.get(event)
            if info is None:
                info = self._event_info(conn, event, t)
                if info is None:
                    continue
            event_id, discovery = info
            if discovery:
                discovered = discovered_unit(event, data)
                if discovered is not None:
                    self._learn_unit(conn, *discovered)
            seen = events_seen.get(event_id)
            if seen is None:
                events_seen[event_id] = [t, 1]
            else:
                seen[0] = t
                seen[1] += 1
            if t - last_message.get(event_id, never) >= RAW_EVERY:
                last_message[event_id] = t
                messages.append((event_id, t, frame))
            try:
                found = numbers(data)
            except OverflowError:  # an integer past any float
                self.dropped["unreadable"] += 1
                continue
            if not found:
                continue
            minute = int(t // 60) * 60
            for field, value in found:
                series_id = series_ids.get((event_id, field))
                if series_id is None:
                    series_id = self._series_id(conn, event_id, event, field, unit_of(data), t, value)
                    if series_id is None:
                        continue
                if t - last_raw.get(series_id, never) >= RAW_EVERY:
                    last_raw[series_id] = t
                    points.append((series_id, t, value))
                else:
                    self.rollup_only += 1
                rollup = minutes.get((series_id, minute))
                if rollup is None:
                    minutes[series_id, minute] = [1, value, value, value, value]
                else:
                    rollup[0] += 1
                    if value < rollup[1]:
                        rollup[1] = value
                    elif value > rollup[2]:
                        rollup[2] = value
                    rollup[3] += value
                    rollup[4] = value
                latest[series_id] = (t, value)
        for event, extra in (more or {}).items():
            info = known.get(event)
            seen = events_seen.get(info[0]) if info is not None else None
            if seen is not None:  # else refused with the entries (over the series limit)
                seen[1] += extra
        hours: dict[tuple[int, int], Rollup] = {}
        counts: dict[int, int] = {}
        for (series_id, minute), rollup in minutes.items():  # in time order within a series
            counts[series_id] = counts.get(series_id, 0) + int(rollup[0])
            _fold(hours, (series_id, minute // 3600 * 3600), rollup)
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
                         [(last, count, id_) for id_, (last, count) in events_seen.items()])
        conn.executemany("UPDATE series SET last = ?, count = count + ?, value = ? WHERE id = ?",
                         [(t, counts[id_], value, id_) for id_, (t, value) in latest.items()])

    def _event_info(self, conn: sqlite3.Connection, name: str, t: float) -> tuple[int, bool] | None:
        event_id = self._event_id(conn, name, t)
        if event_id is None:
            return None
        info = self._known[name] = (event_id, bool(DISCOVERY.match(name)))
        return info

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



def _fold(rollups: dict[tuple[int, int], Rollup], key: tuple[int, int], part: Rollup) -> None:
    rollup = rollups.get(key)
    if rollup is None:
        rollups[key] = list(part)
    else:
        rollup[0] += part[0]
        rollup[1] = min(rollup[1], part[1])
        rollup[2] = max(rollup[2], part[2])
        rollup[3] += part[3]
        rollup[4] = part[4]
