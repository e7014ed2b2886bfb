"""The table of the MQTT scenarios against Mosquitto: per scenario and
broker the median and spread over rounds, the load generator's CPU and
whether it saturated, the ratios to Mosquitto and the target. Like
report.py, plain values in and text out.

A round in which mqttbench, not the broker, set the rate (it took most of
the CPU the broker left it, mqttbench.saturated) is invalid: it is left out
of the figures and said so; when every round of a broker saturated, the
figures are of them all and the target is not judged.
"""

from __future__ import annotations

from collections.abc import Sequence

from .compare import MEASURE_FORMATS, rounds_text, spread, spread_text, times_text, tree_ratio
from .procs import MOSQUITTO
from .report import METRIC_LABELS, Row, listed, markdown_layout, text_layout

HEADER = ["scenario", "broker", "rounds", "deliveries/s", "CPU s/100k", "generator s/100k", "generator cores",
          "others' cores", "lost", "other measure", "picloud/reference", "CPU picloud/reference", "target", "met"]

LEGEND = ("Figures are the median over the valid rounds and, in brackets, the lowest and highest; the "
          "ratios are picloud's medians over the reference's (the first broker after picloud). CPU s/100k is "
          "the broker's, read by mqttbench -broker-pid over the measured phase; generator cores is "
          "mqttbench's own CPU over that phase, others' cores what the rest of the machine used during the "
          "whole run (median, max).")


def mqtt_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows compared with Mosquitto, where it was measured."""
    return [r for r in rows if r.reference == MOSQUITTO and r.rounds.get(r.reference)]


def cells(rows: Sequence[Row]) -> list[list[str]]:
    out = []
    for row in rows:
        for i, server in enumerate(listed(row.rounds)):
            ms = row.rounds[server]
            first = i == 0
            generator = spread(ms, "pcbench_cpu_per_100k")
            cores = spread(ms, "generator_cores")
            others = spread(ms, "other_cores")
            lost = max((m.lost for m in ms), default=0)
            measure = MEASURE_FORMATS.get(row.metric)
            out.append([
                row.title if first else "",
                server,
                rounds_text(ms),
                spread_text(spread(ms, "deliveries_per_s"), "{:,.0f}"),
                spread_text(spread(ms, "cpu_per_100k"), "{:.3f}"),
                "" if generator is None else f"{generator.median:.3f}",
                "" if cores is None else f"{cores.median:.2f} ({cores.high:.2f})",
                "" if others is None else f"{others.median:.2f} ({others.high:.2f})",
                str(lost) if lost or any(m.errors for m in ms) else "",
                spread_text(spread(ms, row.metric), *measure) if measure else "",
                _measure_ratios(row) if first else "",
                times_text(tree_ratio(row, "cpu_per_100k", row.reference)) if first else "",
                row.target if first else "",
                {True: "yes", False: "no", None: ""}[row.met] if first else "",
            ])
    return out


def _measure_ratios(row: Row) -> str:
    """picloud over the reference in the scenario's measure, then over any other references."""
    parts = [times_text(tree_ratio(row, row.metric, row.reference), METRIC_LABELS.get(row.metric, row.metric))]
    parts += [f"{times_text(tree_ratio(row, row.metric, other))} vs {other}" for other in row.references[1:]
              if tree_ratio(row, row.metric, other) is not None]
    return "; ".join(p for p in parts if p)


def text_table(rows: Sequence[Row]) -> str:
    return text_layout(HEADER, cells(rows)) + "\n" + LEGEND


def markdown_table(rows: Sequence[Row]) -> str:
    return markdown_layout(HEADER, cells(rows)) + "\n\n" + LEGEND


def saturation_lines(rows: Sequence[Row]) -> list[str]:
    """A line per scenario and server in which the generator saturated, naming the rounds."""
    lines = []
    for row in rows:
        for server in listed(row.rounds):
            ms = row.rounds[server]
            hit = [str(i + 1) for i, m in enumerate(ms) if m.saturated]
            if not hit:
                continue
            if len(hit) == len(ms):
                what = "every round: the figures are the generator's, the target is not judged"
            else:
                what = f"round{'s' * (len(hit) > 1)} {', '.join(hit)} of {len(ms)}, left out of the figures"
            lines.append(f"generator saturated: {row.title}, {server}: {what}")
    return lines
