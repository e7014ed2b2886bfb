"""``python -m bench --scenarios recording``: the hub recording readings
against it with --no-record. The servers of a round and their state
directories, the check of what a hub recorded (on databases the real writer
wrote), the table, and the scenarios end to end, tiny (skipped without a
pcbench or the Go toolchain to build one)."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import pcbench, procs, recording, recording_report, results, run, scenarios
from bench.clients import NumbersPublisher
from bench.context import Context, Scenario
from bench.procs import NO_RECORD, server_commands, state_dir_of, with_fresh_state_dir
from bench.report import Measurement, median
from picloud.stores.sqlite.readings import Readings
from picloud.stores.sqlite.schema import READINGS

KEY = "bench-key-0123456789"
UNBUILDABLE = pcbench.unbuildable()
needs_pcbench = pytest.mark.skipif(UNBUILDABLE is not None, reason=UNBUILDABLE or "")
NUMBERS = [f"{recording.NUMBERS_PREFIX}{i}" for i in range(recording.NUMBER_EVENTS)]


def test_the_recording_group_compares_the_default_hub_with_one_recording_nothing():
    chosen = scenarios.select("recording")
    assert [s.name for s in chosen] == ["recording-fanin", "recording-fanout"]
    for scenario in chosen:
        assert scenario.references == (NO_RECORD,) and scenario.fresh_state and scenario.needs_pcbench
        # Alternating, as against naive: the no-record hub where naive stands.
        orders = [run.scenario_order(order, scenario) for order in run.round_orders(run.SERVERS, 3)]
        assert orders == [("picloud", NO_RECORD), (NO_RECORD, "picloud"), ("picloud", NO_RECORD)]
    commands = server_commands(KEY)
    assert commands[NO_RECORD][-1] == "--no-record" and "--no-record" not in commands["picloud"]
    assert commands[NO_RECORD][:-1][:-1] == commands["picloud"][:-1]  # the same but for the state directory


def test_a_fresh_state_dir_replaces_the_runs_own(tmp_path):
    command = ["python", "-m", "picloud", "serve", "--state-dir", str(tmp_path), "--no-record"]
    fresh = with_fresh_state_dir(command)
    folder = state_dir_of(fresh)
    assert folder is not None
    try:
        assert state_dir_of(command) == tmp_path and folder != tmp_path and list(folder.iterdir()) == []
        assert fresh[:5] == command[:5] and fresh[6:] == command[6:]
    finally:
        folder.rmdir()
    assert with_fresh_state_dir(["naive.py", "--port", "0"]) == ["naive.py", "--port", "0"]


# Says it listens, then waits for the runner's SIGTERM; takes a --state-dir as a hub does.
STAND_IN = [sys.executable, "-c",
            "import signal; print('listening on http://127.0.0.1:1', flush=True); signal.pause()"]


def test_each_round_gets_empty_state_dirs_that_are_looked_at_then_removed(tmp_path):
    seen: list[tuple[str, Path, bool]] = []

    def after_stop(server, m: Measurement) -> None:
        assert server.proc.poll() is not None  # stopped first
        seen.append((server.name, server.state_dir, server.state_dir.is_dir()))
        m.db_kib = 1.0

    scenario = Scenario("fake", "fake", lambda ctx, server: Measurement(deliveries_per_s=1.0), "deliveries_per_s",
                        needs_pcbench=False, fresh_state=True, after_stop=after_stop)
    command = [*STAND_IN, "--state-dir", str(tmp_path)]
    for _ in range(2):
        measured = run.measure_round(Context(key=KEY), scenario, ("picloud", NO_RECORD),
                                     {"picloud": command, NO_RECORD: command})
        assert all(m.db_kib == 1.0 and m.errors == [] for m in measured.values())
    names, folders, existed = zip(*seen)
    assert names == ("picloud", NO_RECORD) * 2 and all(existed)
    assert len(set(folders)) == 4 and tmp_path not in folders
    assert not any(folder.exists() for folder in folders)


def write_readings(state_dir: Path, messages: list[tuple[str, object]]) -> Path:
    """A database as a recording hub leaves it, written by the hub's own writer."""
    db = state_dir / recording.DATABASE
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(READINGS)
    readings = Readings(2000)
    readings.load(conn)
    now = time.time()
    entries = [(now + i / 100, event, json.dumps({"action": "publish", "event": event, "data": data}).encode())
               for i, (event, data) in enumerate(messages)]
    conn.execute("BEGIN")
    readings.write(conn, entries)
    conn.execute("COMMIT")
    conn.close()
    return db


def hub(name: str, state_dir: Path) -> SimpleNamespace:
    return SimpleNamespace(name=name, state_dir=state_dir)


def test_what_a_recording_hub_wrote_is_counted(tmp_path):
    loads = [(recording.PCBENCH_EVENT, f"0|{i}|1764110000000000000|xx") for i in range(30)]
    numbers = [(event, {"temperature": 21.5, "humidity": 40}) for event in NUMBERS]
    db = write_readings(tmp_path, loads + numbers)
    m = Measurement(published=len(loads) + len(numbers) + 10)
    recording.check_recorded(hub("picloud", tmp_path), m)
    assert m.errors == []
    assert m.recorded == pytest.approx(50 / 60)
    assert m.db_kib == pytest.approx(db.stat().st_size / 1024)
    # Read-only: the check wrote nothing, not even a log beside the file.
    assert sorted(p.name for p in tmp_path.iterdir()) == [recording.DATABASE]


def test_recording_that_did_nothing_fails_loudly(tmp_path):
    m = Measurement(published=100)
    recording.check_recorded(hub("picloud", tmp_path), m)
    assert m.errors == [f"recording: no picloud.db in {tmp_path}"]
    assert list(tmp_path.iterdir()) == []  # not created by looking

    # The load's strings recorded, but no number: no rollups.
    write_readings(tmp_path, [(recording.PCBENCH_EVENT, "0|1|1|xx"), (NUMBERS[0], "not a number")])
    m = Measurement(published=100)
    recording.check_recorded(hub("picloud", tmp_path), m)
    assert m.errors == [f"recording: no rollups of the numbers of 20 of 20 events ({NUMBERS[0]}, ...)"]

    (tmp_path / recording.DATABASE).unlink()
    write_readings(tmp_path, [(event, {"t": 1}) for event in NUMBERS])
    m = Measurement(published=100)
    recording.check_recorded(hub("picloud", tmp_path), m)
    assert m.errors == ["recording: nothing recorded of pcbench's event ev-0"]

    (tmp_path / recording.DATABASE).write_bytes(b"not a database at all" * 100)
    m = Measurement(published=100)
    recording.check_recorded(hub("picloud", tmp_path), m)
    assert len(m.errors) == 1 and m.errors[0].startswith("recording: cannot read")


def test_a_hub_with_no_record_must_record_nothing(tmp_path):
    m = Measurement(published=100)
    recording.check_recorded(hub(NO_RECORD, tmp_path), m)
    assert m.errors == [] and m.recorded is None and m.db_kib is None
    write_readings(tmp_path, [(recording.PCBENCH_EVENT, "0|1|1|xx")])
    recording.check_recorded(hub(NO_RECORD, tmp_path), m)
    assert m.errors == [f"recording: {NO_RECORD} recorded readings with --no-record"]


def recording_row(on_rates: list[float], off_rates: list[float], errors: list[str] | None = None):
    per_server = {
        "picloud": [Measurement(deliveries_per_s=r, cpu_per_100k=0.70, off_loop_cpu_per_100k=0.05,
                                pcbench_cpu_per_100k=0.8, other_cores=0.1, recorded=1.0, db_kib=600.0,
                                errors=list(errors or [])) for r in on_rates],
        NO_RECORD: [Measurement(deliveries_per_s=r, cpu_per_100k=0.64, pcbench_cpu_per_100k=0.8, other_cores=0.2)
                    for r in off_rates],
    }
    return results.make_row(scenarios.BY_NAME["recording-fanin"], per_server), per_server


def test_the_recording_table_gives_the_ratios_on_over_off_and_the_database():
    row, _ = recording_row([95_000.0, 90_000.0, 99_000.0], [100_000.0, 98_000.0, 104_000.0])
    assert row.met is True and row.ratio == pytest.approx(95_000 / 100_000)
    lines = recording_report.markdown_table([row]).splitlines()
    on, off = (line.split(" | ") for line in lines[2:4])
    assert on == ["| fan-in 50->1, window 20, recording", "on", "3", "95,000 (90,000-99,000)", "0.700 (0.700-0.700)",
                  "0.050", "0.800", "0.10 (0.10)", "", "100% (100%-100%)", "600 KiB (600-600)", "0.950x", "1.094x",
                  ">=0.9x rate", "yes |"]
    assert off[1:4] == ["off (--no-record)", "3", "100,000 (98,000-104,000)"] and off[5] == ""
    assert off[9:11] == ["", ""]
    assert recording_report.LEGEND in recording_report.text_table([row])


def test_the_target_wants_the_rate_and_a_recording_that_worked():
    slow, _ = recording_row([85_000.0], [100_000.0])
    assert slow.met is False
    broken, _ = recording_row([99_000.0], [100_000.0], errors=["recording: no picloud.db in /x"])
    assert broken.met is False


def test_recording_rows_have_a_table_of_their_own(tmp_path, capsys):
    row, per_server = recording_row([95_000.0], [100_000.0])
    raw = {"recording-fanin": {s: [dataclasses.asdict(m) for m in ms] for s, ms in per_server.items()}}
    results.print_tables([row], None)
    out = capsys.readouterr().out
    assert out.startswith("Recording readings, on against off:") and "MQTT" not in out
    results.write_results(tmp_path, [row], raw, "vm", "python -m bench --scenarios recording", "when")
    text = (tmp_path / "results.md").read_text()
    assert "## Recording readings, on against off" in text and "| on | 1 | 95,000 (95,000-95,000) |" in text
    assert median(per_server["picloud"]).recorded == 1.0


@needs_pcbench
def test_recording_scenarios_end_to_end(tmp_path, capsys):
    assert run.main(["--quick", "--scenarios", "recording", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Recording readings, on against off:" in out and "off (--no-record)" in out
    raw = json.loads((tmp_path / "results.json").read_text())["rounds"]
    assert sorted(raw) == ["recording-fanin", "recording-fanout"]
    for name, servers in raw.items():
        assert sorted(servers) == ["picloud", NO_RECORD]
        for server, (m,) in servers.items():
            where = f"{name} {server}"
            assert m["errors"] == [] and m["lost"] == 0, where
            assert m["deliveries_per_s"] > 100 and m["cpu_per_100k"] > 0 and m["other_cores"] >= 0, where
            # pcbench's messages and some of the numbers publisher's.
            assert m["published"] > (50 * 60 if name == "recording-fanin" else 200), where
        on, off = servers["picloud"][0], servers[NO_RECORD][0]
        # The writer's thread works in the one that records (a short run may
        # see none of its writes); little else runs off the loop.
        assert 0 <= off["off_loop_cpu_per_100k"] <= on["off_loop_cpu_per_100k"] < on["cpu_per_100k"], name
        # Stopped hubs write what they were given: all of it, but what was
        # still in a socket when the hub was told to stop.
        assert 0.9 < on["recorded"] <= 1.0 and on["db_kib"] > 0, name
        assert off["recorded"] is None and off["db_kib"] is None, name
    assert "| fan-out 1->100, window 50, recording | on | 1 |" in (tmp_path / "results.md").read_text()


def test_the_numbers_publisher_keeps_its_rate(tmp_path):
    """Against a real hub, without pcbench: the readings are numbers, and recorded."""
    command = [*server_commands(KEY)["picloud"][:-1], str(tmp_path), "--store-interval", "0.1"]
    with procs.Server("picloud", command) as server:
        with NumbersPublisher(server.port, KEY, rate=500, events=4, prefix="bench/room-") as numbers:
            time.sleep(0.5)
        assert numbers.error is None and 150 <= numbers.sent <= 350
        time.sleep(0.3)  # the hub reads what is still in the socket
    events, minutes = recording.recorded_counts(tmp_path / recording.DATABASE)
    assert sorted(events) == [f"bench/room-{i}" for i in range(4)] and sum(events.values()) == numbers.sent
    assert sorted(minutes) == sorted(events)


def test_a_threads_cpu_is_read_in_ns_and_none_where_there_is_none():
    def burn() -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass

    thread = threading.Thread(target=burn)
    main_before = procs.thread_cpu_seconds(os.getpid())
    thread.start()
    thread.join()
    # The main thread waited; all of the burning was the other thread's.
    assert main_before is not None and procs.thread_cpu_seconds(os.getpid()) - main_before < 0.04
    assert procs.cpu_seconds(os.getpid()) >= 0.05
    assert procs.thread_cpu_seconds(2 ** 22 + 1) is None
