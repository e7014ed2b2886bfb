"""``python -m bench --baseline REV``: the comparison table."""

from __future__ import annotations

import pytest

from bench import compare
from bench.report import Measurement, Row, median
from bench.scenarios import BY_NAME


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
