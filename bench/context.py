"""What a scenario is (a row of the table: a function that measures one
server, the servers it is compared with, its target) and the Context every
such function gets: the key, the load generators, the scale."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from . import pcbench
from .procs import Server
from .report import Measurement, Row, from_pcbench


@dataclass
class Context:
    key: str
    quick: bool = False
    pcbench: Optional[Path] = None

    def load(self, server: Server, **options: Any) -> Measurement:
        """Run pcbench against ``server`` and charge it the server's CPU time."""
        if self.pcbench is None:
            raise pcbench.PcbenchError("this scenario needs pcbench")
        options.setdefault("timeout", "120s")
        before = server.cpu_seconds()
        result = pcbench.run(self.pcbench, server.ws_url, self.key, options)
        return from_pcbench(result, server.cpu_seconds() - before)

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full


Measure = Callable[[Context, Server], Measurement]


@dataclass
class Scenario:
    name: str
    title: str
    measure: Measure
    metric: str  # the Measurement field the ratio compares
    target: str = ""
    meets: Optional[Callable[[Row], bool]] = None
    needs_pcbench: bool = True


# For the targets: picloud's medians, and what a target asks of them.
def picloud_of(row: Row) -> Measurement:
    return row.results["picloud"]


def clean(m: Measurement) -> bool:
    return m.lost == 0 and not m.errors


def at_least(value: Optional[float], floor: float) -> bool:
    return value is not None and value >= floor


def at_most(value: Optional[float], ceiling: float) -> bool:
    return value is not None and value <= ceiling
