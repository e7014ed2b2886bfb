"""The recording scenarios: the hub as it starts by default, recording every
event into its state directory's database, against the same tree's hub with
``--no-record``, each in an empty state directory of its own every round,
loaded by pcbench as the fan-in and fan-out scenarios are (with five times
their messages) while a NumbersPublisher (bench/clients.py) publishes
readings that are numbers beside it, to both hubs alike. The hub's CPU is
counted until WRITE_OUT after the load, when what it recorded is written.

pcbench's ``data`` is a string (its publisher, sequence and send time), and
pcbench has no option to send anything else: the recorder takes each of its
messages (its event's count, a raw message a second) but finds no number in
them. The numbers (series, raw points, 1-minute and 1-hour rollups) are the
numbers publisher's, NUMBERS_RATE messages a second over NUMBER_EVENTS
events.

Once a hub has stopped (and written its last interval), its database is
opened read-only: a hub that records must have counted pcbench's event and
every numbers event, and have rollups of their numbers; a hub with
``--no-record`` must have recorded nothing. Otherwise the round has an
error, and the target is not met.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from . import clients
from .context import Context, Measure, Scenario, at_least, clean, picloud_of
from .procs import NO_RECORD, Server, thread_cpu_seconds
from .report import Measurement, Row

#: The database a hub records into, in its state directory (picloud/stores/sqlite/database.py).
DATABASE = "picloud.db"
#: Numbers published a second beside pcbench's load, and over how many events.
NUMBERS_RATE, NUMBER_EVENTS = 1000, 20
NUMBERS_PREFIX = "bench/room-"
#: The event pcbench publishes on with one event (-events 1).
PCBENCH_EVENT = "ev-0"
#: Seconds the hub is given after the load to write what it still holds: its
#: --store-interval (1 s by default) and the write.
WRITE_OUT = 1.5


def recording_load(subs: int, pubs: int, n: int, window: int, quick_n: int) -> Measure:
    """pcbench's load (one event) with the numbers beside it; the hub's CPU
    from before both to WRITE_OUT after them, so that the writes of the
    run's last interval are counted too."""
    def measure(ctx: Context, server: Server) -> Measurement:
        count = ctx.scale(n, quick_n)
        numbers = clients.NumbersPublisher(server.port, ctx.key, NUMBERS_RATE, NUMBER_EVENTS, NUMBERS_PREFIX)
        before = (server.cpu_seconds(), thread_cpu_seconds(server.pid))
        with numbers:
            m = ctx.load(server, subs=subs, pubs=pubs, n=count, window=window)
        time.sleep(WRITE_OUT)
        after = (server.cpu_seconds(), thread_cpu_seconds(server.pid))
        if numbers.error:
            m.errors.append(numbers.error)
        # pcbench sends n per publisher, each to every subscriber, or says what went wrong.
        m.published = pubs * count + numbers.sent
        received = subs * pubs * count - m.lost
        if received > 0:
            total = after[0] - before[0]
            m.cpu_per_100k = total / received * 100_000
            if before[1] is not None and after[1] is not None:
                m.off_loop_cpu_per_100k = max(0.0, total - (after[1] - before[1])) / received * 100_000
        return m
    return measure


def database_files(state_dir: Path) -> list[Path]:
    """The database and, if it is there, its write-ahead log."""
    db = state_dir / DATABASE
    return [path for path in (db, db.with_name(DATABASE + "-wal")) if path.exists()]


def recorded_counts(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Per recorded event, the messages the database counts and the rows of
    1-minute rollups of its series; read-only, never creating the file."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        events = {name: count for name, count in conn.execute("SELECT name, count FROM events")}
        minutes = dict(conn.execute(
            "SELECT e.name, count(*) FROM minutes m JOIN series s ON m.series = s.id "
            "JOIN events e ON s.event = e.id GROUP BY e.name"))
    finally:
        conn.close()
    return events, minutes


def check_recorded(server: Server, m: Measurement) -> None:
    """After a hub of a recording scenario stopped: what its database holds,
    as an error when recording did nothing it should have (or anything, with
    ``--no-record``); the share recorded and the database's size."""
    if server.state_dir is None:
        m.errors.append(f"recording: {server.name} has no state directory")
        return
    files = database_files(server.state_dir)
    db = server.state_dir / DATABASE
    try:
        if server.name == NO_RECORD:
            if files and recorded_counts(db)[0]:
                m.errors.append(f"recording: {server.name} recorded readings with --no-record")
            return
        if not files:
            m.errors.append(f"recording: no {DATABASE} in {server.state_dir}")
            return
        m.db_kib = sum(path.stat().st_size for path in files) / 1024
        events, minutes = recorded_counts(db)
    except (sqlite3.Error, OSError) as exc:
        m.errors.append(f"recording: cannot read {db}: {exc}")
        return
    if not events.get(PCBENCH_EVENT):
        m.errors.append(f"recording: nothing recorded of pcbench's event {PCBENCH_EVENT}")
    numbers = [f"{NUMBERS_PREFIX}{i}" for i in range(NUMBER_EVENTS)]
    missing = [name for name in numbers if not events.get(name) or not minutes.get(name)]
    if missing:
        m.errors.append(f"recording: no rollups of the numbers of {len(missing)} of {len(numbers)} events "
                        f"({missing[0]}, ...)")
    if m.published:
        m.recorded = sum(events.values()) / m.published


def _met(row: Row) -> bool:
    return at_least(row.ratio, 0.9) and clean(picloud_of(row)) and clean(row.results[NO_RECORD])


TARGET = ">=0.9x rate"


def _recording(name: str, title: str, measure: Measure) -> Scenario:
    return Scenario(name, title, measure, "deliveries_per_s", TARGET, _met, references=(NO_RECORD,),
                    fresh_state=True, after_stop=check_recorded)


RECORDING_SCENARIOS: list[Scenario] = [
    # Five times the messages of the fanin and fanout100 scenarios: several
    # store intervals, so that the writer works while pcbench does.
    _recording("recording-fanin", "fan-in 50->1, window 20, recording",
               recording_load(subs=1, pubs=50, n=2000, window=20, quick_n=60)),
    _recording("recording-fanout", "fan-out 1->100, window 50, recording",
               recording_load(subs=100, pubs=1, n=10000, window=50, quick_n=200)),
]
