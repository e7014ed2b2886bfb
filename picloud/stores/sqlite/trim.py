"""Keeping the readings within their days and their bytes.

Days: raw messages and points older than --record-raw-days go, rollups
older than --record-rollup-days. Bytes: past --store-max-bytes the event
using the most goes first, oldest rows first, raw before minutes before
hours, so one chatty event cannot push out a week of every other sensor:
each takes from itself until it is back within its share.
"""

from __future__ import annotations

import sqlite3

from .schema import READINGS_TABLES

DAY = 86400.0
#: Rough bytes of one row on disk, with its share of index and page.
ROW_BYTES = {"points": 24, "minutes": 56, "hours": 56}
MESSAGE_OVERHEAD = 40
#: A trim goes down to this part of the budget, so it is not run every write.
TRIM_TO = 0.9
#: Rows deleted from one event in one step: its oldest quarter, at least this.
MIN_STEP = 64


def expire(conn: sqlite3.Connection, now: float, raw_days: float, rollup_days: float) -> int:
    """Delete what is older than its days; one index probe per series."""
    raw_cutoff, rollup_cutoff = now - raw_days * DAY, now - rollup_days * DAY
    deleted = 0
    for (event,) in conn.execute("SELECT id FROM events").fetchall():
        deleted += conn.execute("DELETE FROM messages WHERE event = ? AND t < ?", (event, raw_cutoff)).rowcount
    for (series,) in conn.execute("SELECT id FROM series").fetchall():
        deleted += conn.execute("DELETE FROM points WHERE series = ? AND t < ?", (series, raw_cutoff)).rowcount
        for table in ("minutes", "hours"):
            deleted += conn.execute(f"DELETE FROM {table} WHERE series = ? AND t < ?",
                                    (series, rollup_cutoff)).rowcount
    deleted += forget_empty(conn)
    return deleted


def forget_empty(conn: sqlite3.Connection) -> int:
    """Series with no rows left, and events with no series and no messages."""
    gone = conn.execute(
        "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM points WHERE series = series.id) "
        "AND NOT EXISTS (SELECT 1 FROM minutes WHERE series = series.id) "
        "AND NOT EXISTS (SELECT 1 FROM hours WHERE series = series.id)").rowcount
    gone += conn.execute(
        "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM series WHERE event = events.id) "
        "AND NOT EXISTS (SELECT 1 FROM messages WHERE event = events.id)").rowcount
    return gone


def readings_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the pages in use: the readings' and, a little, the other tables'."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages * page_size)


def readings_bytes_exactly(conn: sqlite3.Connection) -> int:
    """The same, without the other tables (a scan of every page: only when needed)."""
    marks = ",".join("?" * len(READINGS_TABLES))
    row = conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE aggregate = 1 AND name IN ({marks})",
                       READINGS_TABLES).fetchone()
    return int(row[0] or 0)


def weights(conn: sqlite3.Connection) -> dict[int, float]:
    """Estimated bytes each event's rows take."""
    weight: dict[int, float] = {}
    for event, count, size in conn.execute("SELECT event, count(*), sum(length(frame)) FROM messages GROUP BY event"):
        weight[event] = weight.get(event, 0.0) + count * MESSAGE_OVERHEAD + (size or 0)
    for table, row_bytes in ROW_BYTES.items():
        for event, count in conn.execute(
                f"SELECT s.event, count(*) FROM {table} r JOIN series s ON s.id = r.series GROUP BY s.event"):
            weight[event] = weight.get(event, 0.0) + count * row_bytes
    return weight


def trim(conn: sqlite3.Connection, max_bytes: int, others: list[int] | None = None) -> int:
    """Delete until the readings are within ``max_bytes``; rows deleted.
    ``others`` keeps between calls what the other tables took when last
    measured exactly, so that the exact measure (a walk of every page) runs
    again only once the pages in use have grown past it."""
    known = others if others is not None else [0]
    total = readings_bytes(conn)
    if total - known[0] <= max_bytes:
        return 0
    size = readings_bytes_exactly(conn)
    known[0] = max(0, total - size)
    if size <= max_bytes:
        return 0
    weight = weights(conn)
    estimated = sum(weight.values()) or 1.0
    scale = size / estimated  # what the estimate misses, in proportion
    target = max_bytes * TRIM_TO
    deleted = 0
    while weight and estimated * scale > target:
        event = max(weight, key=weight.__getitem__)
        freed, rows = _trim_event(conn, event)
        if not rows:
            del weight[event]  # nothing left to take
            continue
        deleted += rows
        freed = min(freed, weight[event])
        weight[event] -= freed
        estimated -= freed
    deleted += forget_empty(conn)
    conn.execute("PRAGMA incremental_vacuum")
    return deleted


def _trim_event(conn: sqlite3.Connection, event: int) -> tuple[float, int]:
    """Delete the oldest quarter of ``event``'s finest rows left: raw
    messages and points, else minutes, else hours. Returns (bytes, rows)."""
    series = [row[0] for row in conn.execute("SELECT id FROM series WHERE event = ?", (event,))]
    freed, rows = _oldest_messages(conn, event)
    for table in ("points", "minutes", "hours"):
        for series_id in series:
            deleted = _oldest(conn, table, "series", series_id)
            rows += deleted
            freed += deleted * ROW_BYTES[table]
        if rows:
            return freed, rows
    return 0.0, 0


def _cutoff(conn: sqlite3.Connection, table: str, key: str, value: int) -> float | None:
    """The time at or before which the oldest quarter of the rows lie."""
    total = conn.execute(f"SELECT count(*) FROM {table} WHERE {key} = ?", (value,)).fetchone()[0]
    if not total:
        return None
    offset = min(max(MIN_STEP, total // 4), total) - 1
    row = conn.execute(f"SELECT t FROM {table} WHERE {key} = ? ORDER BY t LIMIT 1 OFFSET ?", (value, offset)).fetchone()
    return None if row is None else float(row[0])


def _oldest(conn: sqlite3.Connection, table: str, key: str, value: int) -> int:
    cutoff = _cutoff(conn, table, key, value)
    if cutoff is None:
        return 0
    return int(conn.execute(f"DELETE FROM {table} WHERE {key} = ? AND t <= ?", (value, cutoff)).rowcount)


def _oldest_messages(conn: sqlite3.Connection, event: int) -> tuple[float, int]:
    cutoff = _cutoff(conn, "messages", "event", event)
    if cutoff is None:
        return 0.0, 0
    rows, size = conn.execute("SELECT count(*), coalesce(sum(length(frame)), 0) FROM messages "
                              "WHERE event = ? AND t <= ?", (event, cutoff)).fetchone()
    conn.execute("DELETE FROM messages WHERE event = ? AND t <= ?", (event, cutoff))
    return float(rows * MESSAGE_OVERHEAD + size), int(rows)
