"""Keeping the readings within their days and bytes (picloud/stores/sqlite/trim.py)."""

from __future__ import annotations

from picloud.stores.sqlite.trim import DAY, expire, readings_bytes, readings_bytes_exactly, trim
from tests.stores.sqlite.support import Recorded

T0 = 1_796_000_400.0
MIB = 1024 * 1024


def test_what_outlives_its_days_goes(tmp_path):
    store = Recorded(tmp_path)
    try:
        # A reading an hour for 10 days, then one of another event two days later.
        store.record(*[(T0 + h * 3600, "old", float(h)) for h in range(240)])
        now = T0 + 240 * 3600
        store.record((now + 2 * DAY, "new", 1.0))
        deleted = store.db.write_now(lambda conn: expire(conn, now, raw_days=2, rollup_days=5))
        assert deleted > 0
        assert store.query("SELECT min(t) FROM points") == [(now - 48 * 3600,)]
        assert store.query("SELECT min(t) FROM messages") == [(now - 48 * 3600,)]
        for table in ("minutes", "hours"):
            assert store.query(f"SELECT min(t) FROM {table}")[0][0] >= now - 5 * DAY - 3600
        store.db.write_now(lambda conn: expire(conn, now + 2 * DAY + 3600, raw_days=2, rollup_days=1))
        # An event left with nothing is forgotten, with its series.
        assert store.query("SELECT name FROM events") == [("new",)]
    finally:
        store.close()


def test_a_chatty_event_cannot_push_out_the_week_of_the_others(tmp_path):
    store = Recorded(tmp_path)
    try:
        quiet = [f"room{i}/temp" for i in range(10)]
        week = [T0 + i * 600 for i in range(7 * 144)]
        for name in quiet:
            store.record(*[(t, name, 20.0) for t in week])
        chatty = {"payload": "x" * 300, "n": 1}
        for start in range(0, 30000, 5000):
            store.record(*[(T0 + i, "camera/stats", chatty) for i in range(start, start + 5000)])
        size = store.db.read_now(readings_bytes_exactly)
        budget = int(size * 0.5)
        deleted = store.db.write_now(lambda conn: trim(conn, budget))
        assert deleted > 0
        assert store.db.read_now(readings_bytes) <= budget
        # Every quiet sensor keeps its whole week; the chatty one lost its oldest.
        counts = dict(store.query("SELECT e.name, count(*) FROM points p JOIN series s ON s.id = p.series "
                                  "JOIN events e ON e.id = s.event GROUP BY e.name"))
        assert all(counts[name] == len(week) for name in quiet)
        oldest, kept = store.query("SELECT min(m.t), count(*) FROM messages m JOIN events e ON e.id = m.event "
                                   "WHERE e.name = 'camera/stats'")[0]
        assert oldest > T0 and 0 < kept < 30000
    finally:
        store.close()


def test_raw_goes_before_minutes_before_hours(tmp_path):
    store = Recorded(tmp_path)
    try:
        store.record(*[(T0 + i * 30, "only", float(i)) for i in range(20000)])
        before = {table: store.query(f"SELECT count(*) FROM {table}")[0][0] for table in ("points", "minutes", "hours")}
        store.db.write_now(lambda conn: trim(conn, 1 * MIB // 4))
        after = {table: store.query(f"SELECT count(*) FROM {table}")[0][0] for table in ("points", "minutes", "hours")}
        assert after["points"] < before["points"]
        assert after["hours"] == before["hours"]  # the coarsest last
        assert store.db.read_now(readings_bytes) <= MIB // 4
    finally:
        store.close()


def test_within_the_budget_nothing_is_touched(tmp_path):
    store = Recorded(tmp_path)
    try:
        store.record(*[(T0 + i, "a", float(i)) for i in range(100)])
        assert store.db.write_now(lambda conn: trim(conn, 64 * MIB)) == 0
        assert store.query("SELECT count(*) FROM points") == [(100,)]
    finally:
        store.close()


def test_the_exact_measure_runs_again_only_once_the_pages_grew(tmp_path):
    store = Recorded(tmp_path)
    try:
        store.record(*[(T0 + i, "a", float(i)) for i in range(2000)])
        size = store.db.read_now(readings_bytes_exactly)
        others = [0]
        # A budget between the readings' size and the file's: nothing to trim, and
        # what the other tables take is learnt, so the next call skips the walk.
        budget = size + 1
        assert store.db.write_now(lambda conn: trim(conn, budget, others)) == 0
        assert others[0] == store.db.read_now(readings_bytes) - size
        calls = []
        store.db.write_now(lambda conn: conn.set_trace_callback(calls.append))
        assert store.db.write_now(lambda conn: trim(conn, budget, others)) == 0
        store.db.write_now(lambda conn: conn.set_trace_callback(None))
        assert not any("dbstat" in sql for sql in calls)
    finally:
        store.close()
