"""Measurements, the comparison table (text and markdown) and the plot.

No I/O but the files written by ``write_plot``; the table is built from
plain values so that it can be tested without servers.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

SERVERS = ("picloud", "naive")
# The order servers are listed in: the current tree's hub first.
DISPLAY_ORDER = ("picloud", "picloud-ws", "baseline", "naive", "mosquitto")


@dataclass
class Measurement:
    """One scenario, one server, one round (or the median of several)."""

    deliveries_per_s: Optional[float] = None
    publishes_per_s: Optional[float] = None
    p50_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    cpu_per_100k: Optional[float] = None  # server CPU seconds per 100k deliveries
    # The load generator's (pcbench's, or mqttbench's), on the same cores.
    pcbench_cpu_per_100k: Optional[float] = None
    generator_cores: Optional[float] = None  # the generator's CPU over the measured time (mqttbench)
    other_cores: Optional[float] = None  # what other processes of the machine used meanwhile (mqttbench)
    kib_per_conn: Optional[float] = None  # resident memory per idle connection
    peak_rss_mib: Optional[float] = None  # server's VmHWM during the scenario
    kept: Optional[float] = None  # throughput with a stalled peer / without
    # The recording scenarios: messages published over the run (the load
    # generator's and the numbers'), the share of them the hub's database
    # counts once the hub has stopped, and that database's size then.
    published: Optional[float] = None
    recorded: Optional[float] = None
    db_kib: Optional[float] = None
    # Of cpu_per_100k, what the server's threads other than its main one (the
    # hub's event loop) used: the database writer's share.
    off_loop_cpu_per_100k: Optional[float] = None
    # The connection scenarios: server CPU per connection made and ended.
    cpu_ms_per_conn: Optional[float] = None
    subs: Optional[int] = None
    lost: int = 0  # expected minus received deliveries
    saturated: int = 0  # rounds in which the generator, not the server, set the rate
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


NUMERIC = [f.name for f in fields(Measurement) if f.name not in ("lost", "errors", "notes", "subs", "saturated")]


def from_pcbench(result: dict[str, Any], cpu_seconds: float) -> Measurement:
    """A Measurement from pcbench's JSON line and the server CPU it cost."""
    received = int(result.get("received", 0))
    expected = int(result.get("expected", 0))
    return Measurement(
        deliveries_per_s=float(result["deliveries_per_s"]),
        publishes_per_s=float(result.get("publishes_per_s", 0.0)),
        p50_ms=_latency(result.get("p50_ms")),
        p99_ms=_latency(result.get("p99_ms")),
        cpu_per_100k=cpu_seconds / received * 100_000 if received else None,
        pcbench_cpu_per_100k=(
            result["pcbench_cpu_s"] / received * 100_000 if received and "pcbench_cpu_s" in result else None
        ),
        subs=result.get("subs"),
        lost=max(0, expected - received),
        errors=list(result.get("errors") or []),
    )


def _latency(value: Any) -> Optional[float]:
    # pcbench says -1 when nothing arrived.
    return None if value is None or value < 0 else float(value)


def median(rounds: Sequence[Measurement]) -> Measurement:
    """Per field median over rounds; losses are the worst round's, errors all
    of them, saturated rounds counted."""
    if not rounds:
        raise ValueError("no rounds to combine")
    merged = Measurement(subs=rounds[0].subs)
    for name in NUMERIC:
        values = [getattr(m, name) for m in rounds if getattr(m, name) is not None]
        if values:
            setattr(merged, name, statistics.median(values))
    merged.lost = max(m.lost for m in rounds)
    merged.saturated = sum(m.saturated for m in rounds)
    merged.errors = sorted({e for m in rounds for e in m.errors})
    merged.notes = list(dict.fromkeys(n for m in rounds for n in m.notes))
    return merged


def valid_rounds(rounds: Sequence[Measurement]) -> list[Measurement]:
    """The rounds in which the generator did not saturate; all of them when
    it saturated in every one (their median then says so, ``saturated > 0``)."""
    return [m for m in rounds if not m.saturated] or list(rounds)


def ratio(picloud: Optional[float], naive: Optional[float]) -> Optional[float]:
    if picloud is None or naive is None or naive == 0:
        return None
    return picloud / naive


@dataclass
class Row:
    """One scenario's outcome: each server's medians, the compared metric and the target.

    The ratios are picloud's over the first of ``references`` (naive, or
    Mosquitto for the MQTT scenarios); a target may look at the others.
    """

    name: str
    title: str
    metric: str  # a Measurement field
    target: str
    results: dict[str, Measurement]
    met: Optional[bool] = None
    rounds: dict[str, list[Measurement]] = field(default_factory=dict)  # all rounds, saturated ones too
    references: tuple[str, ...] = ("naive",)

    @property
    def reference(self) -> str:
        return self.references[0]

    def ratio_to(self, other: str, name: Optional[str] = None) -> Optional[float]:
        """picloud's median of a Measurement field (the metric) over ``other``'s."""
        pc, them = self.results.get("picloud"), self.results.get(other)
        if pc is None or them is None:
            return None
        return ratio(getattr(pc, name or self.metric), getattr(them, name or self.metric))

    @property
    def ratio(self) -> Optional[float]:
        return self.ratio_to(self.reference)

    @property
    def cpu_ratio(self) -> Optional[float]:
        """Server CPU per delivery, picloud over the reference: steadier than rates on a busy machine."""
        if self.metric == "cpu_per_100k":
            return None
        return self.ratio_to(self.reference, "cpu_per_100k")


METRIC_LABELS = {
    "deliveries_per_s": "deliveries/s", "publishes_per_s": "publishes/s", "p50_ms": "p50",
    "p99_ms": "p99", "kib_per_conn": "KiB/conn", "kept": "kept", "cpu_per_100k": "CPU",
    "cpu_ms_per_conn": "CPU/conn",
}

COLUMNS: list[tuple[str, Callable[[Measurement], str]]] = [
    ("deliveries/s", lambda m: _num(m.deliveries_per_s, "{:,.0f}")),
    ("p50 ms", lambda m: _num(m.p50_ms, "{:.2f}")),
    ("p99 ms", lambda m: _num(m.p99_ms, "{:.2f}")),
    ("CPU s/100k", lambda m: _num(m.cpu_per_100k, "{:.2f}")),
    ("generator s/100k", lambda m: _num(m.pcbench_cpu_per_100k, "{:.2f}")),
    ("KiB/conn", lambda m: _num(m.kib_per_conn, "{:.1f}")),
    ("peak RSS MiB", lambda m: _num(m.peak_rss_mib, "{:.0f}")),
    ("kept", lambda m: _num(None if m.kept is None else m.kept * 100, "{:.0f}%")),
    ("lost", lambda m: str(m.lost) if m.lost or m.errors else ""),
]
HEADER = ["scenario", "server", *(c[0] for c in COLUMNS), "picloud/reference", "target", "met"]


def _num(value: Optional[float], fmt: str) -> str:
    return "" if value is None else fmt.format(value)


def listed(servers: Iterable[str]) -> list[str]:
    """``servers`` in display order, any unknown ones last."""
    present = list(servers)
    return [s for s in DISPLAY_ORDER if s in present] + [s for s in present if s not in DISPLAY_ORDER]


def table_cells(rows: Sequence[Row]) -> list[list[str]]:
    """The table as rows of cells: a line per server, ratio on the first."""
    cells = []
    for row in rows:
        for i, server in enumerate(listed(row.results)):
            m = row.results[server]
            first = i == 0
            cells.append([
                row.title if first else "",
                server,
                *(fmt(m) for _, fmt in COLUMNS),
                _ratios(row) if first else "",
                row.target if first else "",
                {True: "yes", False: "no", None: ""}[row.met] if first else "",
            ])
    return cells


def _ratios(row: Row) -> str:
    """Against naive as they always were; against another reference, named."""
    parts = []
    if row.ratio is not None:
        parts.append(f"{row.ratio:.2f}x {METRIC_LABELS.get(row.metric, row.metric)}")
    if row.cpu_ratio is not None:
        parts.append(f"{row.cpu_ratio:.2f}x CPU")
    text = ", ".join(parts)
    if text and row.reference != "naive":
        text += f" vs {row.reference}"
    for other in row.references[1:]:
        value = row.ratio_to(other)
        if value is not None:
            text += f"; {value:.2f}x vs {other}"
    return text


def text_layout(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    cells = [header, *body]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_layout(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for line in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |")
    return "\n".join(lines)


def text_table(rows: Sequence[Row]) -> str:
    return text_layout(HEADER, table_cells(rows))


def markdown_table(rows: Sequence[Row]) -> str:
    return markdown_layout(HEADER, table_cells(rows))


def note_lines(rows: Sequence[Row]) -> list[str]:
    return [f"- {row.title}, {server}: {note}"
            for row in rows for server, m in row.results.items() for note in [*m.notes, *m.errors]]


def markdown_report(
    rows: Sequence[Row], machine: str, command: str, when: str, more: str = "",
    tabled: Optional[Sequence[Row]] = None,
) -> str:
    """results.md: the table of ``tabled`` (all rows unless given; none if
    empty), then ``more`` (markdown), then the notes of every row."""
    notes = note_lines(rows)
    tabled = rows if tabled is None else tabled
    parts = [f"# PiCloud benchmark, {when}", "", f"Machine: {machine}", "", f"Command: `{command}`", ""]
    if tabled:
        parts += [markdown_table(tabled), ""]
    if more:
        parts += [more.strip(), ""]
    parts.append("Ratios compare the servers within the same run; absolute numbers on a shared machine are noisy.")
    if notes:
        parts += ["", "Notes:", "", *notes]
    return "\n".join(parts) + "\n"


def plot_points(rows: Sequence[Row]) -> dict[str, list[tuple[int, float]]]:
    """Deliveries/s against subscriber count for the one-publisher, windowed runs."""
    points: dict[str, list[tuple[int, float]]] = {s: [] for s in SERVERS}
    for row in rows:
        if not row.name.startswith(("fanout", "sweep")):
            continue
        for server, m in row.results.items():
            if m.subs and m.deliveries_per_s:
                points.setdefault(server, []).append((int(m.subs), m.deliveries_per_s))
    return {s: sorted(p) for s, p in points.items() if p}


def write_plot(rows: Sequence[Row], path: Path, title: str) -> bool:
    """Write the PNG; False when there is nothing to plot."""
    points = plot_points(rows)
    if not points:
        return False
    try:
        import matplotlib
    except ImportError:  # the bench extra brings it; the tables do not need it
        print(f"no plot: matplotlib is not installed (pip install -e '.[bench]') for {path}")
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for server, pts in points.items():
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", label=server)
    ax.set_xscale("log")
    ax.set_xlabel("subscribers (1 publisher, 64-byte messages; window 50, at 5000 window 5)")
    ax.set_ylabel("deliveries/s")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
