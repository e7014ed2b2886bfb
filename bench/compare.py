"""The current tree against a baseline revision (``python -m bench --baseline``).

Per scenario and tree: the median and the spread (min-max) over rounds of
deliveries/s and of server CPU seconds per 100k deliveries, the load generator's own CPU,
and the ratio current/baseline of the median CPU per 100k. Like report.py,
plain values in and text out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from .report import (
    METRIC_LABELS,
    Measurement,
    Row,
    listed,
    markdown_layout,
    note_lines,
    ratio,
    text_layout,
    valid_rounds,
)

CURRENT, BASELINE = "picloud", "baseline"
TREE_LABELS = {CURRENT: "current", BASELINE: "baseline"}


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float


def spread(rounds: Sequence[Measurement], name: str) -> Optional[Spread]:
    """Median, min and max of a Measurement field over the rounds that have
    it, leaving out those in which the generator saturated (unless all did)."""
    values = [getattr(m, name) for m in valid_rounds(rounds) if getattr(m, name) is not None]
    if not values:
        return None
    return Spread(statistics.median(values), min(values), max(values))


def tree_ratio(row: Row, name: str, reference: str = BASELINE) -> Optional[float]:
    """current / baseline (or another reference server) of the medians over
    rounds of a Measurement field."""
    current = spread(row.rounds.get(CURRENT, []), name)
    base = spread(row.rounds.get(reference, []), name)
    if current is None or base is None:
        return None
    return ratio(current.median, base.median)


def spread_text(value: Optional[Spread], fmt: str, unit: str = "") -> str:
    if value is None:
        return ""
    return f"{fmt.format(value.median)}{unit} ({fmt.format(value.low)}-{fmt.format(value.high)})"


def times_text(value: Optional[float], label: str = "") -> str:
    return "" if value is None else f"{value:.3f}x{' ' + label if label else ''}"


def rounds_text(rounds: Sequence[Measurement]) -> str:
    """How many rounds the figures are of, and how many were left out."""
    left_out = sum(1 for m in rounds if m.saturated)
    if not left_out:
        return str(len(rounds))
    if left_out == len(rounds):
        return f"{len(rounds)}, all saturated"
    return f"{len(rounds) - left_out} of {len(rounds)}"


# How the measure of a scenario that is not about throughput is shown.
MEASURE_FORMATS = {"p50_ms": ("{:.2f}", " ms"), "kib_per_conn": ("{:.1f}", " KiB/conn"),
                   "kept": ("{:.0%}", " kept"), "cpu_ms_per_conn": ("{:.3f}", " ms/conn")}

# Figures are "median (min-max)" over the rounds, the load generator's the median alone.
HEADER = ["scenario", "tree", "rounds", "deliveries/s", "CPU s/100k", "generator s/100k", "lost", "other measure",
          "CPU current/baseline", "measure current/baseline"]


def cells(rows: Sequence[Row]) -> list[list[str]]:
    """A line per tree, ratios on the first; the last column is the
    scenario's own measure (deliveries/s, p50, KiB/conn, kept)."""
    out = []
    for row in rows:
        for i, server in enumerate(listed(row.rounds)):
            ms = row.rounds[server]
            first = i == 0
            pcbench = spread(ms, "pcbench_cpu_per_100k")
            lost = max((m.lost for m in ms), default=0)
            out.append([
                row.title if first else "",
                TREE_LABELS.get(server, server),
                rounds_text(ms),
                spread_text(spread(ms, "deliveries_per_s"), "{:,.0f}"),
                spread_text(spread(ms, "cpu_per_100k"), "{:.3f}"),
                "" if pcbench is None else f"{pcbench.median:.3f}",
                str(lost) if lost or any(m.errors for m in ms) else "",
                spread_text(spread(ms, row.metric), *MEASURE_FORMATS[row.metric])
                if row.metric in MEASURE_FORMATS else "",
                times_text(tree_ratio(row, "cpu_per_100k")) if first else "",
                times_text(tree_ratio(row, row.metric), METRIC_LABELS.get(row.metric, row.metric)) if first else "",
            ])
    return out


LEGEND = ("Figures are the median over the rounds and, in brackets, the lowest and highest round; "
          "the ratios are of the medians.")


def text_table(rows: Sequence[Row]) -> str:
    return text_layout(HEADER, cells(rows)) + "\n" + LEGEND


def markdown_table(rows: Sequence[Row]) -> str:
    return markdown_layout(HEADER, cells(rows))


def describe(baseline: dict[str, Any]) -> str:
    """One line on what was compared, from results.json's ``baseline``."""
    current = baseline.get("current", {})
    dirty = " with uncommitted changes" if current.get("dirty") else ""
    return (f"current tree {current.get('sha', '?')}{dirty} against baseline "
            f"`{baseline['rev']}` = {baseline['sha']}")


def markdown_report(
    rows: Sequence[Row], all_figures: str, machine: str, command: str, when: str, baseline: dict[str, Any]
) -> str:
    """results.md of a --baseline run; ``all_figures`` is report.py's table of medians."""
    notes = note_lines(rows)
    parts = [
        f"# PiCloud benchmark, {when}", "", f"Machine: {machine}", "", f"Command: `{command}`", "",
        f"Compared: {describe(baseline)}.", "",
        markdown_table(rows), "",
        f"{LEGEND} Each round starts fresh hubs of both trees and measures the current one, then the "
        "baseline. The CPU ratio is of server CPU seconds per 100k deliveries: below 1 the current "
        "tree spends less. The figures of every round are in results.json.",
        "", "All figures (medians over the rounds):", "", all_figures,
    ]
    if notes:
        parts += ["", "Notes:", "", *notes]
    return "\n".join(parts) + "\n"
