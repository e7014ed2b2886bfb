"""The table of the recording scenarios: per scenario the hub recording
(its default) and the hub with ``--no-record``, each with the median and
spread over rounds, what other processes used meanwhile, the share of the
messages recorded and the database's size, and the ratios on/off. Like
report.py, plain values in and text out."""

from __future__ import annotations

from collections.abc import Sequence

from .compare import rounds_text, spread, spread_text, times_text, tree_ratio
from .procs import NO_RECORD
from .report import Row, listed, markdown_layout, text_layout

LABELS = {"picloud": "on", NO_RECORD: "off (--no-record)"}

HEADER = ["scenario", "recording", "rounds", "deliveries/s", "CPU s/100k", "off the loop", "generator s/100k",
          "others' cores", "lost", "recorded", "database", "rate on/off", "CPU on/off", "target", "met"]

LEGEND = ("Figures are the median over the rounds and, in brackets, the lowest and highest; the ratios are of "
          "the medians, recording on over off, measured in the same rounds in alternation. CPU s/100k is the "
          "hub's (all its threads) per 100k deliveries, from the start of the load until the last interval's "
          "write after it; off the loop the part of it that its threads other than the event loop's used (the "
          "database writer's, mostly); others' cores what the rest of the machine used during the load (median, "
          "max); recorded the share of the messages published (pcbench's and the numbers publisher's) that the "
          "database counts once the hub has stopped, database its size then.")


def recording_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows compared with the hub recording nothing, which was measured."""
    return [r for r in rows if r.reference == NO_RECORD and r.rounds.get(NO_RECORD)]


def cells(rows: Sequence[Row]) -> list[list[str]]:
    out = []
    for row in rows:
        for i, server in enumerate(listed(row.rounds)):
            ms = row.rounds[server]
            first = i == 0
            generator = spread(ms, "pcbench_cpu_per_100k")
            off_loop = spread(ms, "off_loop_cpu_per_100k")
            others = spread(ms, "other_cores")
            lost = max((m.lost for m in ms), default=0)
            out.append([
                row.title if first else "",
                LABELS.get(server, server),
                rounds_text(ms),
                spread_text(spread(ms, "deliveries_per_s"), "{:,.0f}"),
                spread_text(spread(ms, "cpu_per_100k"), "{:.3f}"),
                "" if off_loop is None else f"{off_loop.median:.3f}",
                "" if generator is None else f"{generator.median:.3f}",
                "" if others is None else f"{others.median:.2f} ({others.high:.2f})",
                str(lost) if lost or any(m.errors for m in ms) else "",
                spread_text(spread(ms, "recorded"), "{:.0%}"),
                spread_text(spread(ms, "db_kib"), "{:,.0f}", " KiB"),
                times_text(tree_ratio(row, "deliveries_per_s", NO_RECORD)) if first else "",
                times_text(tree_ratio(row, "cpu_per_100k", NO_RECORD)) if first else "",
                row.target if first else "",
                {True: "yes", False: "no", None: ""}[row.met] if first else "",
            ])
    return out


def text_table(rows: Sequence[Row]) -> str:
    return text_layout(HEADER, cells(rows)) + "\n" + LEGEND


def markdown_table(rows: Sequence[Row]) -> str:
    return markdown_layout(HEADER, cells(rows)) + "\n\n" + LEGEND
