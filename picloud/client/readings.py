"""``picloud readings EVENT --since 24h``: what the hub recorded, on the command line."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import click

from ..wire.codec import dumps
from ..wire.times import parse_span, parse_time
from .commands import connection_options
from .sync import Client


@click.command()
@click.argument("event")
@click.option("--since", default="24h", show_default=True, help="From when: 24h, 7d, RFC 3339 or Unix seconds.")
@click.option("--until", default="now", show_default=True, help="Until when, in the same forms.")
@click.option("--step", default=None, help="Aggregate per this span (5m, 1h); the hub picks one otherwise.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (time,event,field,unit,min,max,mean,last,count).")
@click.option("--json", "as_json", is_flag=True, help="Print the hub's answer as JSON.")
@connection_options
def readings(client: Client, event: str, since: str, until: str, step: str | None, as_csv: bool,
             as_json: bool) -> None:
    """Show the readings the hub recorded of EVENT."""
    # Checked here too, so that an error names the option given (the hub
    # would name its query's 'from'); the hub still reads the times itself.
    now = time.time()
    parse_time(since, now, "--since")
    parse_time(until, now, "--until")
    if step is not None:
        parse_span(step, "--step")
    if as_csv and as_json:
        raise click.UsageError("--csv or --json, not both")
    if as_csv:
        click.echo(client.readings(event, since, until, step, csv=True), nl=False)
        return
    found = client.readings(event, since, until, step)
    if as_json:
        click.echo(dumps(found).decode("utf-8"))
        return
    click.echo(readings_table(found))


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float) -> str:
    return f"{value:.6g}"


def readings_table(found: dict[str, Any]) -> str:
    lines: list[str] = []
    for series in found["series"]:
        name = found["event"] + (f" {series['field']}" if series["field"] else "")
        unit = f" ({series['unit']})" if series["unit"] else ""
        if series["raw"]:
            count = len(series["t"])
            lines.append(f"{name}{unit}: {count} point{'' if count == 1 else 's'}")
            lines += [f"  {_when(t)}  {_number(v)}" for t, v in zip(series["t"], series["value"])]
        else:
            lines.append(f"{name}{unit}: {len(series['t'])} steps of {series['step']}s (min, mean, max)")
            lines += [f"  {_when(t)}  {_number(lo)}  {_number(mean)}  {_number(hi)}"
                      for t, lo, mean, hi in zip(series["t"], series["min"], series["mean"], series["max"])]
    return "\n".join(lines) if lines else f"nothing recorded of {found['event']} in that time"


def register(group: click.Group) -> None:
    group.add_command(readings)
