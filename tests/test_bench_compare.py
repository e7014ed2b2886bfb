"""``python -m bench --baseline REV``: its arguments, the order servers are
measured in (with real stand-in server processes), and the comparison table."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from bench import compare, run
from bench.report import Measurement, Row, median
from bench.scenarios import BY_NAME, Context, Scenario

KEY = "bench-key-0123456789"


@pytest.mark.parametrize(("rounds", "quick", "expected"), [
    (None, False, 5), (None, True, 5), (5, False, 5), (9, True, 9),
])
def test_baseline_rounds_default_to_five(rounds, quick, expected):
    assert run.choose_rounds(rounds, quick, against_baseline=True) == expected


@pytest.mark.parametrize("rounds", [4, 1, 0])
def test_baseline_refuses_fewer_than_five_rounds(rounds):
    with pytest.raises(ValueError, match=f"--baseline needs at least 5 rounds, not {rounds}"):
        run.choose_rounds(rounds, False, against_baseline=True)


def test_rounds_without_baseline_are_as_before():
    assert run.choose_rounds(None, False, False) == 2
    assert run.choose_rounds(None, True, False) == 1
    assert run.choose_rounds(3, False, False) == 3
    with pytest.raises(ValueError, match="--rounds must be at least 1, not 0"):
        run.choose_rounds(0, False, False)


def test_baseline_arguments():
    args = run.parse_args(["--baseline", "HEAD~1", "--scenarios", "fanin"])
    assert (args.baseline, args.naive, args.baseline_cache, args.rounds) == ("HEAD~1", False, None, None)
    assert run.parse_args([]).baseline is None
    args = run.parse_args(["--baseline", "v1.2", "--naive", "--baseline-cache", "/tmp/c"])
    assert args.naive and str(args.baseline_cache) == "/tmp/c"
    with pytest.raises(SystemExit):
        run.parse_args(["--baseline"])


def test_main_says_why_it_will_not_run_three_rounds(capsys):
    assert run.main(["--baseline", "HEAD~1", "--rounds", "3", "--scenarios", "idle"]) == 2
    err = capsys.readouterr().err
    assert "error: --baseline needs at least 5 rounds, not 3" in err
    assert "preparing" not in err  # refused before any git or venv work


def test_main_names_an_unknown_revision(capsys, tmp_path):
    code = run.main(["--baseline", "no-such-rev-x", "--scenarios", "idle", "--baseline-cache", str(tmp_path)])
    assert code == 2
    assert "error: unknown revision 'no-such-rev-x'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_naive_is_left_out_against_a_baseline_unless_asked():
    assert run.compared_servers(False, False) == ("picloud", "naive")
    assert run.compared_servers(True, False) == ("picloud", "baseline")
    assert run.compared_servers(True, True) == ("picloud", "baseline", "naive")


def test_round_orders():
    assert run.round_orders(("picloud", "baseline"), 5) == [("picloud", "baseline")] * 5
    assert run.round_orders(("picloud", "baseline", "naive"), 2) == [("picloud", "baseline", "naive")] * 2
    # Without a baseline, as before: the first place swaps every round.
    assert run.round_orders(("picloud", "naive"), 3) == [
        ("picloud", "naive"), ("naive", "picloud"), ("picloud", "naive")]


# Says it listens, then waits for the runner's SIGTERM.
STAND_IN = [sys.executable, "-c",
            "import signal; print('listening on http://127.0.0.1:1', flush=True); signal.pause()"]


def test_runner_measures_current_and_baseline_alternately():
    measured: list[str] = []

    def measure(ctx: Context, server) -> Measurement:
        measured.append(server.name)
        return Measurement(deliveries_per_s=float(len(measured)), cpu_per_100k=1.0)

    scenario = Scenario("fake", "fake scenario", measure, "deliveries_per_s", needs_pcbench=False)
    orders = run.round_orders(run.compared_servers(True, False), 5)
    rows, raw = run.run_scenarios(Context(key=KEY), [scenario], orders,
                                  {"picloud": STAND_IN, "baseline": STAND_IN})
    assert measured == ["picloud", "baseline"] * 5
    assert [m["deliveries_per_s"] for m in raw["fake"]["picloud"]] == [1, 3, 5, 7, 9]
    assert [m["deliveries_per_s"] for m in raw["fake"]["baseline"]] == [2, 4, 6, 8, 10]
    (row,) = rows
    assert len(row.rounds["baseline"]) == 5 and row.results["picloud"].deliveries_per_s == 5
    assert row.met is None


def rounds_of(**values: list) -> list[Measurement]:
    count = len(next(iter(values.values())))
    return [Measurement(**{k: v[i] for k, v in values.items()}) for i in range(count)]


def fanin_row():
    per_server = {
        "picloud": rounds_of(deliveries_per_s=[100_000.0, 90_000.0, 120_000.0, 95_000.0, 110_000.0],
                             cpu_per_100k=[0.60, 0.66, 0.58, None, 0.62],
                             pcbench_cpu_per_100k=[0.8, 0.9, 0.85, 0.8, 0.9]),
        "baseline": rounds_of(deliveries_per_s=[80_000.0, 100_000.0, 85_000.0, 90_000.0, 70_000.0],
                              cpu_per_100k=[0.50, 0.55, 0.40, 0.65, 0.60],
                              pcbench_cpu_per_100k=[0.8, 0.8, 0.8, 0.8, 0.8]),
    }
    fanin = BY_NAME["fanin"]
    row = Row(fanin.name, fanin.title, fanin.metric, fanin.target,
              {s: median(ms) for s, ms in per_server.items()}, rounds=per_server)
    return row, per_server


def test_spread_is_median_min_and_max_of_the_rounds_that_have_the_value():
    _, per_server = fanin_row()
    assert compare.spread(per_server["picloud"], "cpu_per_100k") == compare.Spread(0.61, 0.58, 0.66)
    assert compare.spread(per_server["baseline"], "deliveries_per_s") == compare.Spread(85_000, 70_000, 100_000)
    assert compare.spread(per_server["baseline"], "kib_per_conn") is None


def test_ratio_is_of_the_median_cpu_current_over_baseline():
    row, _ = fanin_row()
    assert compare.tree_ratio(row, "cpu_per_100k") == pytest.approx(0.61 / 0.55)
    assert compare.tree_ratio(row, "deliveries_per_s") == pytest.approx(100_000 / 85_000)
    assert compare.tree_ratio(row, "kib_per_conn") is None
    row.rounds.pop("baseline")
    assert compare.tree_ratio(row, "cpu_per_100k") is None


def test_comparison_table_lines():
    row, _ = fanin_row()
    lines = compare.markdown_table([row]).splitlines()
    assert len(lines) == 2 + 2
    current = lines[2].split(" | ")
    assert current == ["| fan-in 50->1, window 20", "current", "5", "100,000 (90,000-120,000)",
                       "0.610 (0.580-0.660)", "0.850", "", "", "1.109x", "1.176x deliveries/s |"]
    assert lines[3].split(" | ")[1:6] == ["baseline", "5", "85,000 (70,000-100,000)", "0.550 (0.400-0.650)",
                                          "0.800"]
    text = compare.text_table([row]).splitlines()
    assert text[0].index("tree") == text[2].index("current") == text[3].index("baseline")


def test_comparison_of_a_scenario_measured_otherwise():
    idle = BY_NAME["idle"]
    per_server = {"picloud": rounds_of(kib_per_conn=[9.0, 8.3, 8.4, 8.3, 8.5]),
                  "baseline": rounds_of(kib_per_conn=[7.7, 8.2, 8.3, 8.3, 8.2])}
    row = Row(idle.name, idle.title, idle.metric, idle.target,
              {s: median(ms) for s, ms in per_server.items()}, rounds=per_server)
    current, base = (line.split(" | ") for line in compare.markdown_table([row]).splitlines()[2:])
    assert current[3:] == ["", "", "", "", "8.4 KiB/conn (8.3-9.0)", "", f"{8.4 / 8.2:.3f}x KiB/conn |"]
    assert base[7] == "8.2 KiB/conn (7.7-8.3)"


AGAINST = {"rev": "HEAD~1", "sha": "a" * 40, "tree": "/cache/aaaa/tree",
           "current": {"sha": "b" * 40, "dirty": True, "picloud": "/repo/picloud/__init__.py"}}


def test_results_record_the_baseline_and_the_report_is_rebuilt_from_them(tmp_path, capsys):
    row, per_server = fanin_row()
    raw = {"fanin": {s: [dataclasses.asdict(m) for m in ms] for s, ms in per_server.items()}}
    run.write_results(tmp_path, [row], raw, "vm: 2 cpus", "python -m bench --baseline HEAD~1", "when", AGAINST)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["baseline"]["sha"] == "a" * 40 and saved["baseline"]["rev"] == "HEAD~1"
    assert [m["cpu_per_100k"] for m in saved["rounds"]["fanin"]["baseline"]] == [0.50, 0.55, 0.40, 0.65, 0.60]
    assert len(saved["rounds"]["fanin"]["picloud"]) == 5
    first = (tmp_path / "results.md").read_text()
    assert f"current tree {'b' * 40} with uncommitted changes against baseline `HEAD~1` = {'a' * 40}" in first
    assert "| fan-in 50->1, window 20 | current | 5 | 100,000 (90,000-120,000) |" in first
    assert "| 1.109x |" in first
    assert "| fan-in 50->1, window 20 | picloud | 100,000 |" in first  # the table of all medians

    (tmp_path / "results.md").unlink()
    capsys.readouterr()
    assert run.main(["--report", str(tmp_path)]) == 0
    assert (tmp_path / "results.md").read_text() == first
    out = capsys.readouterr().out
    assert "CPU current/baseline" in out and "1.109x" in out
