"""What a scenario is (a row of the table: a function that measures one
server, the servers it is compared with, its target) and the Context every
such function gets: the key, the load generators, the scale."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from . import mqttbench, pcbench
from .procs import TCP, Server, children_cpu_seconds, machine_busy_seconds
from .report import Measurement, Row, from_pcbench


@dataclass
class Context:
    key: str
    quick: bool = False
    pcbench: Optional[Path] = None
    mqttbench: Optional[Path] = None
    #: The certificate and key the brokers serve TLS with, for the scenarios over TLS.
    certificate: Optional[tuple[Path, Path]] = None

    def load(self, server: Server, **options: Any) -> Measurement:
        """Run pcbench against ``server`` and charge it the server's CPU time."""
        if self.pcbench is None:
            raise pcbench.PcbenchError("this scenario needs pcbench")
        options.setdefault("timeout", "120s")
        before = (time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), time.process_time())
        result = pcbench.run(self.pcbench, server.ws_url, self.key, options)
        after = (time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), time.process_time())
        wall, busy, cpu, own = (a - b for a, b in zip(after, before))
        m = from_pcbench(result, cpu)
        # What neither the server, nor pcbench, nor this process (a scenario's
        # own clients) used, over the whole run.
        m.other_cores = max(0.0, busy - cpu - result["pcbench_cpu_s"] - own) / wall if wall > 0 else None
        return m

    def mqtt_load(self, server: Server, **options: Any) -> Measurement:
        """Run mqttbench against ``server``'s MQTT listener of the scenario's
        transport (64-byte payloads), reading the server's CPU over the
        measured phase (``-broker-pid``)."""
        if self.mqttbench is None:
            raise mqttbench.MqttbenchError("this scenario needs mqttbench")
        url = server.mqtt_urls.get(server.transport)
        if url is None:
            raise mqttbench.MqttbenchError(f"{server.name} does not listen for MQTT over {server.transport}")
        options.setdefault("size", 64)
        options.setdefault("timeout", "120s")
        before = (time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), children_cpu_seconds())
        result = mqttbench.run(self.mqttbench, url, self.key, server.pid, options)
        after = (time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), children_cpu_seconds())
        wall, busy, broker, generator = (a - b for a, b in zip(after, before))
        m = mqttbench.measurement(result, mqttbench.cores())
        # What neither the broker nor the generator used, over the whole run (connecting too).
        m.other_cores = max(0.0, busy - broker - generator) / wall
        if server.transport != TCP:
            m.notes.append(f"over {url.split('://')[0]}://")
        return m

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full


Measure = Callable[[Context, Server], Measurement]
#: Looks at what a server left once it has stopped (its state directory) and
#: adds that to the round's Measurement.
AfterStop = Callable[[Server, Measurement], None]


@dataclass
class Scenario:
    name: str
    title: str
    measure: Measure
    metric: str  # the Measurement field the ratio compares
    target: str = ""
    meets: Optional[Callable[[Row], bool]] = None
    needs_pcbench: bool = True
    #: The servers measured beside picloud, the first the ratios are against;
    #: "naive" stands for them in the runner's round orders.
    references: tuple[str, ...] = ("naive",)
    mqtt: bool = False  # the hubs listen for MQTT
    transport: str = TCP  # what the MQTT load is carried over (procs.TCP, WS or TLS)
    needs_mqttbench: bool = False
    #: Each hub gets an empty state directory of its own in every round
    #: (removed after ``after_stop``), not the one of the whole run.
    fresh_state: bool = False
    after_stop: Optional[AfterStop] = None


# For the targets: picloud's medians, and what a target asks of them.
def picloud_of(row: Row) -> Measurement:
    return row.results["picloud"]


def clean(m: Measurement) -> bool:
    return m.lost == 0 and not m.errors


def at_least(value: Optional[float], floor: float) -> bool:
    return value is not None and value >= floor


def at_most(value: Optional[float], ceiling: float) -> bool:
    return value is not None and value <= ceiling
