"""Many events' recent series at once, for a page of overview cards
(``GET /readings/sparklines``): the mean of each numeric series per step,
about ``points`` steps, read from the minute or hour rollups only, never the
raw points, and aggregated by SQLite in one statement for every series.
Run on the reader thread.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

MINUTE, HOUR = 60, 3600


def sparkline_step(span: float, points: int) -> int:
    """Seconds per point: whole minutes under an hour (the minute rollups),
    whole hours above (the hour rollups), never under a minute."""
    wanted = span / max(1, points)
    if wanted <= MINUTE:
        return MINUTE
    width = MINUTE if wanted < HOUR else HOUR
    return math.ceil(wanted / width) * width


def read(conn: sqlite3.Connection, start: float, end: float, points: int, events: Sequence[str] | None,
         allowed: Callable[[str], bool] | None, max_events: int) -> dict[str, Any]:
    """``{"from", "to", "step", "events": {name: [{"field", "unit", "t",
    "mean"}]}, "truncated"}``. Without ``events``, every event with a numeric
    series that ``allowed`` admits, the most recently recorded first, at most
    ``max_events`` of them (``truncated`` if there were more); with them,
    those, in that order, each listed even if nothing of it is recorded."""
    step = sparkline_step(end - start, points)
    truncated = False
    if events is None:
        chosen: list[tuple[int, str]] = []
        for id_, name in conn.execute("SELECT id, name FROM events e WHERE EXISTS "
                                      "(SELECT 1 FROM series s WHERE s.event = e.id) ORDER BY last DESC, name"):
            if allowed is None or allowed(name):
                if len(chosen) == max_events:
                    truncated = True
                    break
                chosen.append((id_, name))
    else:
        ids = dict(conn.execute("SELECT name, id FROM events WHERE name IN (SELECT value FROM json_each(?))",
                                (json.dumps(list(events)),)).fetchall())
        chosen = [(ids.get(name, 0), name) for name in events]
    wanted = {id_ for id_, _ in chosen}
    series: dict[int, list[dict[str, Any]]] = {}
    entries: dict[int, dict[str, Any]] = {}
    for id_, event, field, unit in conn.execute("SELECT id, event, field, unit FROM series ORDER BY event, field"):
        if event in wanted:
            entry = entries[id_] = {"field": field, "unit": unit, "t": [], "mean": []}
            series.setdefault(event, []).append(entry)
    if entries:
        table, width = ("minutes", MINUTE) if step < HOUR else ("hours", HOUR)
        rows = conn.execute(
            f"SELECT series, (t / ?) * ? AS bucket, sum(sum) / sum(count) FROM {table} "
            "WHERE series IN (SELECT value FROM json_each(?)) AND t > ? AND t <= ? "
            "GROUP BY series, bucket ORDER BY series, bucket",
            (step, step, json.dumps(list(entries)), math.floor(start) - width, end))
        for id_, bucket, mean in rows:
            entry = entries[id_]
            entry["t"].append(bucket)
            entry["mean"].append(mean)
    return {"from": start, "to": end, "step": step,
            "events": {name: series.get(id_, []) for id_, name in chosen}, "truncated": truncated}
