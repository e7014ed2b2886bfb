"""``GET /readings`` and ``GET /readings/events``: what was recorded, read back.

``/readings?event=NAME&from=T&to=T[&step=S][&format=csv]``: each numeric
series of one event between two times (default the last 24 hours), raw
where there are few points, else aggregated per step (stores/sqlite/query.py).
``/readings/events``: what is recorded. Keys and topic rights apply as for
``/history``: a subscribe role, and only the events the key may read.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from typing import Any

from ..exceptions import ProtocolError
from ..hub.store import Store
from ..wire.times import parse_span, parse_time, rfc3339
from ..wire.topics import is_filter
from .access import Refused
from .queries import QueryHandler, encode_head

#: Buckets one answer may hold per series, whatever step is asked for.
MAX_BUCKETS = 10_000
CSV_HEADER = ("time", "event", "field", "unit", "min", "max", "mean", "last", "count")


class ReadingsQuery(QueryHandler):
    @property
    def store(self) -> Store:
        store = self.pubsub.retained.store
        if not store.records:
            raise Refused(404, "this hub records no readings (see --record)")
        return store

    async def ask(self, read: Any) -> Any:
        try:
            return await read
        except sqlite3.Error as exc:
            raise Refused(503, f"cannot read the readings: {exc}") from None


class ReadingsHTTP(ReadingsQuery):
    async def get(self) -> None:
        event = self.event_arg(required=True) or ""
        if is_filter(event):
            raise Refused(400, f"readings are of one event, not a filter like {event!r}")
        self.check_readable(event)
        store = self.store
        now = time.time()
        try:
            start = parse_time(self.get_query_argument("from", "-24h"), now, "from")
            end = parse_time(self.get_query_argument("to", "now"), now, "to")
            step_text = self.get_query_argument("step", None)
            step = None if step_text is None else max(1, round(parse_span(step_text)))
        except ProtocolError as exc:
            raise Refused(400, str(exc)) from None
        if end < start:
            raise Refused(400, f"'to' ({rfc3339(end)}) is before 'from' ({rfc3339(start)})")
        if step is not None and (end - start) / step > MAX_BUCKETS:
            raise Refused(400, f"step {step}s from {rfc3339(start)} to {rfc3339(end)} is more than "
                               f"{MAX_BUCKETS} points: use a longer step")
        found = await self.ask(store.readings(event, start, end, step))
        fmt = self.get_query_argument("format", "json")
        if fmt == "csv":
            self.send_csv(found)
        elif fmt == "json":
            self.finish(encode_head(found))
        else:
            raise Refused(400, f"'format' must be json or csv, not {fmt[:20]!r}")

    def send_csv(self, found: dict[str, Any]) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        event = found["event"]
        for series in found["series"]:
            field, unit = series["field"], series["unit"] or ""
            if series["raw"]:
                for t, value in zip(series["t"], series["value"]):
                    writer.writerow((rfc3339(t), event, field, unit, value, value, value, value, 1))
            else:
                for row in zip(series["t"], series["min"], series["max"], series["mean"], series["last"],
                               series["count"]):
                    writer.writerow((rfc3339(row[0]), event, field, unit, *row[1:]))
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in event)[:80] or "readings"
        self.set_header("Content-Type", "text/csv; charset=UTF-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}.csv"')
        self.finish(out.getvalue())


class RecordedEventsHTTP(ReadingsQuery):
    """``{"events": [{"event", "first", "last", "count", "unit", "series": [...]}]}``."""

    routine = True  # refreshed by open dashboards: logged at debug level

    async def get(self) -> None:
        allowed = None if self.permissions is None else self.permissions.may_use
        listed = await self.ask(self.store.recorded_events(allowed))
        self.finish(encode_head({"events": listed}))
