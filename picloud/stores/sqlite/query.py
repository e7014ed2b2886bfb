"""Reading the readings back: the points of an event between two times.

Raw points where there are few; otherwise aggregated to about ``MAX_POINTS``
per series, from the finest source the step allows (raw under a minute,
minute rollups under an hour, hour rollups above), so a chart of a year
reads 8,760 hour rows, not half a million minutes. Run on the reader thread.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any, Callable

MAX_POINTS = 1000
#: Steps a chart is aggregated to: a round number of seconds, minutes, hours or days.
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
              172800, 604800, 2592000)


def nice_step(span: float, max_points: int = MAX_POINTS) -> int:
    wanted = span / max_points
    for step in NICE_STEPS:
        if step >= wanted:
            return step
    return math.ceil(wanted / 86400.0) * 86400


def series_of(conn: sqlite3.Connection, event: str) -> list[tuple[int, str, str | None]]:
    return conn.execute(
        "SELECT s.id, s.field, s.unit FROM series s JOIN events e ON e.id = s.event WHERE e.name = ? ORDER BY s.field",
        (event,),
    ).fetchall()


def read(conn: sqlite3.Connection, event: str, start: float, end: float, step: int | None = None,
         max_points: int = MAX_POINTS) -> dict[str, Any]:
    """``{"event", "from", "to", "series": [...]}``, each series raw
    (``t``, ``value``) or aggregated (``step``, ``t``, ``min``, ``max``,
    ``mean``, ``last``, ``count``), times in Unix seconds."""
    out: list[dict[str, Any]] = []
    for series_id, field, unit in series_of(conn, event):
        entry: dict[str, Any] = {"field": field, "unit": unit}
        raw = conn.execute("SELECT t, value FROM points WHERE series = ? AND t >= ? AND t <= ? ORDER BY t LIMIT ?",
                           (series_id, start, end, max_points + 1)).fetchall()
        covered = not _rolled_up_before(conn, series_id, start, raw)
        if step is None and covered and len(raw) <= max_points:
            entry.update(raw=True, t=[r[0] for r in raw], value=[r[1] for r in raw])
            out.append(entry)
            continue
        chosen = step if step is not None else nice_step(end - start, max_points)
        if not covered:  # the raw points of the range's start are gone: minutes at least
            chosen = max(chosen, 60)
        entry.update(raw=False, step=chosen, **aggregate(conn, series_id, start, end, chosen))
        out.append(entry)
    return {"event": event, "from": start, "to": end, "series": out}


def _rolled_up_before(conn: sqlite3.Connection, series_id: int, start: float, raw: list[Any]) -> bool:
    """Whether the range reaches back past the raw points kept (they expire
    first): then it needs the rollups. That is when a rollup bucket lies
    wholly inside the range and wholly before the series' oldest raw point."""
    oldest = conn.execute("SELECT min(t) FROM points WHERE series = ?", (series_id,)).fetchone()[0]
    if oldest is not None and oldest <= start:
        return False
    before = math.inf if oldest is None else oldest
    for table, width in (("minutes", 60), ("hours", 3600)):
        row = conn.execute(f"SELECT 1 FROM {table} WHERE series = ? AND t >= ? AND t + ? <= ? LIMIT 1",
                           (series_id, start, width, before)).fetchone()
        if row is not None:
            return True
    return False


def aggregate(conn: sqlite3.Connection, series_id: int, start: float, end: float, step: int) -> dict[str, list[Any]]:
    """Min, max, mean, last and count per ``step`` seconds (bucket starts in ``t``)."""
    if step < 60:
        rows = conn.execute("SELECT t, 1, value, value, value, value FROM points "
                            "WHERE series = ? AND t >= ? AND t <= ? ORDER BY t", (series_id, start, end))
    else:
        table, width = ("minutes", 60) if step < 3600 else ("hours", 3600)
        rows = conn.execute(f"SELECT t, count, min, max, sum, last FROM {table} "
                            "WHERE series = ? AND t + ? > ? AND t <= ? ORDER BY t", (series_id, width, start, end))
        if step >= 3600 and not _any(conn, "hours", series_id, start, end):
            rows = conn.execute("SELECT t, count, min, max, sum, last FROM minutes "
                                "WHERE series = ? AND t + 60 > ? AND t <= ? ORDER BY t", (series_id, start, end))
    return _buckets(rows, step)


def _any(conn: sqlite3.Connection, table: str, series_id: int, start: float, end: float) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE series = ? AND t <= ? AND t + 3600 > ? LIMIT 1",
                        (series_id, end, start)).fetchone() is not None


def _buckets(rows: Any, step: int) -> dict[str, list[Any]]:
    t: list[int] = []
    low: list[float] = []
    high: list[float] = []
    mean: list[float] = []
    last: list[float] = []
    count: list[int] = []
    total = 0.0
    for when, n, lo, hi, sum_, final in rows:
        bucket = int(when // step) * step
        if t and t[-1] == bucket:
            count[-1] += n
            if lo < low[-1]:
                low[-1] = lo
            if hi > high[-1]:
                high[-1] = hi
            total += sum_
            last[-1] = final
        else:
            if t:
                mean[-1] = total / count[-1]
            t.append(bucket)
            count.append(n)
            low.append(lo)
            high.append(hi)
            mean.append(0.0)
            last.append(final)
            total = sum_
    if t:
        mean[-1] = total / count[-1]
    return {"t": t, "min": low, "max": high, "mean": mean, "last": last, "count": count}


def events(conn: sqlite3.Connection, allowed: Callable[[str], bool] | None) -> list[dict[str, Any]]:
    """Every recorded event (those ``allowed`` only) with its series."""
    fields: dict[int, list[dict[str, Any]]] = {}
    for event, field, unit, first, last, count, value in conn.execute(
            "SELECT event, field, unit, first, last, count, value FROM series ORDER BY event, field"):
        fields.setdefault(event, []).append(
            {"field": field, "unit": unit, "first": first, "last": last, "count": count, "value": value})
    listed = []
    for id_, name, first, last, count in conn.execute("SELECT id, name, first, last, count FROM events ORDER BY name"):
        if allowed is not None and not allowed(name):
            continue
        series = fields.get(id_, [])
        units = {s["unit"] for s in series if s["unit"]}
        listed.append({"event": name, "first": first, "last": last, "count": count,
                       "unit": units.pop() if len(units) == 1 else None, "series": series})
    return listed
