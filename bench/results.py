"""What a run leaves: the rows made from its rounds, the tables it prints,
results.md, results.json and the plot, and the same again from a
results.json (``python -m bench --report DIR``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from . import compare, mqtt_report, recording_report
from .context import Scenario
from .report import Measurement, Row, markdown_report, markdown_table, median, text_table, valid_rounds, write_plot
from .scenarios import SCENARIOS


def make_row(scenario: Scenario, per_server: dict[str, list[Measurement]]) -> Row:
    """Each server's medians over its valid rounds, and the verdict.

    The targets are set against the scenario's references (naive, or
    Mosquitto and the hub's websockets): without them, none is judged; nor
    when every round of a compared server saturated the load generator.
    Losses and errors are of every round.
    """
    medians = {}
    for server, ms in per_server.items():
        if ms:
            medians[server] = median(valid_rounds(ms))
            # What was lost or went wrong counts, in rounds left out too.
            medians[server].lost = max(m.lost for m in ms)
            medians[server].errors = sorted({e for m in ms for e in m.errors})
    row = Row(scenario.name, scenario.title, scenario.metric, scenario.target, medians, rounds=per_server,
              references=scenario.references)
    compared = ["picloud", *scenario.references]
    if (scenario.meets is not None and all(s in row.results for s in compared)
            and not any(row.results[s].saturated for s in compared)):
        row.met = scenario.meets(row)
    return row


def rows_from_raw(raw: dict[str, Any]) -> list[Row]:
    """Rows from a results.json's ``rounds``, for scenarios this version still knows."""
    return [
        make_row(s, {server: [Measurement(**m) for m in ms] for server, ms in raw[s.name].items()})
        for s in SCENARIOS if s.name in raw
    ]


def print_tables(rows: Sequence[Row], against: Optional[dict[str, Any]]) -> None:
    """Against a baseline its table, then every row's medians; against naive,
    Mosquitto and --no-record, the medians of the rows against naive, the
    MQTT table and the recording table."""
    mqtt = mqtt_report.mqtt_rows(rows)
    recording = recording_report.recording_rows(rows)
    blocks = []
    if against is not None:
        blocks += [compare.describe(against), compare.text_table(rows), "All figures (medians):", text_table(rows)]
    elif len(mqtt) + len(recording) < len(rows):
        blocks.append(text_table([r for r in rows if r not in mqtt and r not in recording]))
    if mqtt:
        blocks += ["MQTT against Mosquitto:", mqtt_report.text_table(mqtt)]
    if recording:
        blocks += ["Recording readings, on against off:", recording_report.text_table(recording)]
    saturated = mqtt_report.saturation_lines(rows)
    if saturated:
        blocks.append("\n".join(saturated))
    print("\n\n".join(blocks))


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
    mqtt = mqtt_report.mqtt_rows(rows)
    recording = recording_report.recording_rows(rows)
    more = "\n".join([
        *(["## MQTT against Mosquitto", "", mqtt_report.markdown_table(mqtt), ""] if mqtt else []),
        *(["## Recording readings, on against off", "", recording_report.markdown_table(recording), ""]
          if recording else []),
        *(f"- {line}" for line in mqtt_report.saturation_lines(rows)),
    ])
    if against is None:
        text = markdown_report(rows, machine_text, command, when, more,
                               [r for r in rows if r not in mqtt and r not in recording])
    else:
        text = compare.markdown_report(rows, markdown_table(rows), machine_text, command, when, against)
        text += f"\n{more.strip()}\n" if more else ""
    written[0].write_text(text)
    saved = {"when": when, "machine": machine_text, "command": command, "rounds": raw}
    if against is not None:
        saved["baseline"] = against
    written[1].write_text(json.dumps(saved, indent=1) + "\n")
    plot = out / "deliveries.png"
    if write_plot(rows, plot, f"deliveries/s against subscribers, {when}"):
        written.append(plot)
    return written
