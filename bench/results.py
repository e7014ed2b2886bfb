"""What a run leaves: the rows made from its rounds, the tables it prints,
results.md, results.json and the plot, and the same again from a
results.json (``python -m bench --report DIR``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from . import compare
from .context import Scenario
from .report import Measurement, Row, markdown_report, markdown_table, median, text_table, write_plot
from .scenarios import SCENARIOS


def make_row(scenario: Scenario, per_server: dict[str, list[Measurement]]) -> Row:
    """Each server's medians over its rounds, and the verdict."""
    row = Row(scenario.name, scenario.title, scenario.metric, scenario.target,
              {s: median(ms) for s, ms in per_server.items() if ms}, rounds=per_server)
    # The targets are set against the naive hub: without it, none is judged.
    if scenario.meets is not None and "picloud" in row.results and "naive" in row.results:
        row.met = scenario.meets(row)
    return row


def rows_from_raw(raw: dict[str, Any]) -> list[Row]:
    """Rows from a results.json's ``rounds``, for scenarios this version still knows."""
    return [
        make_row(s, {server: [Measurement(**m) for m in ms] for server, ms in raw[s.name].items()})
        for s in SCENARIOS if s.name in raw
    ]


def print_tables(rows: Sequence[Row], against: Optional[dict[str, Any]]) -> None:
    if against is not None:
        print(f"{compare.describe(against)}\n")
        print(compare.text_table(rows))
        print("\nAll figures (medians):\n")
    print(text_table(rows))


def rewrite_report(folder: Path) -> int:
    saved = json.loads((folder / "results.json").read_text())
    rows = rows_from_raw(saved["rounds"])
    against = saved.get("baseline")
    print_tables(rows, against)
    for path in write_results(folder, rows, saved["rounds"], saved["machine"], saved["command"], saved["when"],
                              against):
        print(f"wrote {path}")
    return 0


def write_results(
    out: Path, rows: Sequence[Row], raw: dict[str, Any], machine_text: str, command: str, when: str,
    against: Optional[dict[str, Any]] = None,
) -> list[Path]:
    """results.md, results.json (every round's figures; ``against`` is the
    baseline's revision and sha, and the current tree's) and the plot."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.md", out / "results.json"]
    if against is None:
        written[0].write_text(markdown_report(rows, machine_text, command, when))
    else:
        written[0].write_text(
            compare.markdown_report(rows, markdown_table(rows), machine_text, command, when, against)
        )
    saved = {"when": when, "machine": machine_text, "command": command, "rounds": raw}
    if against is not None:
        saved["baseline"] = against
    written[1].write_text(json.dumps(saved, indent=1) + "\n")
    plot = out / "deliveries.png"
    if write_plot(rows, plot, f"deliveries/s against subscribers, {when}"):
        written.append(plot)
    return written
