"""Finding, building and running mqttbench, the Go MQTT load generator, and
what one of its runs measured: a Measurement, and whether the generator
rather than the broker set the rate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

from . import gotools
from .report import Measurement

# Where the tool lives next to a checkout; MQTTBENCH_SRC or --mqttbench-src point elsewhere.
SOURCE_CANDIDATES = gotools.candidates("mqttbench")
# What its build.sh builds with; it installs them with apt-get when missing.
PAHO = Path("/usr/share/gocode/src/github.com/eclipse/paho.mqtt.golang")

#: A round is the generator's when it used this share of the CPU the broker left it.
SATURATED = 0.8


class MqttbenchError(gotools.ToolError):
    """mqttbench is missing, failed to build, or a run failed."""


def source_dir(explicit: str | None = None) -> Path:
    return gotools.source_dir("mqttbench", explicit, SOURCE_CANDIDATES, MqttbenchError)


def ensure_binary(binary: str | None = None, src: str | None = None) -> Path:
    """Return an mqttbench binary: the given one, the cached build, or a fresh build."""
    return gotools.ensure_binary("mqttbench", binary, None if binary else source_dir(src), MqttbenchError)


def unbuildable(src: str | None = None) -> Optional[str]:
    """Why mqttbench can neither be found built nor be built without
    installing anything (its build.sh would apt-get Go), or None."""
    try:
        source = source_dir(src)
    except MqttbenchError as exc:
        return str(exc)
    cached = gotools.CACHE / "mqttbench"
    if cached.exists() and cached.stat().st_mtime >= (source / "main.go").stat().st_mtime:
        return None
    if shutil.which("go") is None or not PAHO.is_dir():
        return f"no Go toolchain to build mqttbench with (go and {PAHO})"
    return None


def command(binary: Path, url: str, key: str, broker_pid: int, options: dict[str, Any]) -> list[str]:
    """mqttbench's command line; ``url`` is the broker's (tcp://, ws://,
    ssl://: mqttbench takes any certificate), options are its flags
    (``subs=100`` -> ``-subs 100``).

    The key is the password, as devices send it to the hub; Mosquitto takes
    any credentials (``allow_anonymous true``).
    """
    args = [str(binary), "-url", url, "-username", "bench", "-password", key, "-broker-pid", str(broker_pid)]
    for name, value in options.items():
        args += [f"-{name}", str(value)]
    return args


def parse_output(text: str) -> dict[str, Any]:
    """The JSON line mqttbench prints last."""
    for line in reversed(text.strip().splitlines()):
        if line.strip().startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                break
            if isinstance(result, dict) and "deliveries_per_s" in result:
                return result
            break
    raise MqttbenchError(f"no result line in mqttbench output: {text.strip()[-500:]!r}")


def run(binary: Path, url: str, key: str, broker_pid: int, options: dict[str, Any],
        wait: float = 300.0) -> dict[str, Any]:
    args = command(binary, url, key, broker_pid, options)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=wait)
    except subprocess.TimeoutExpired:
        raise MqttbenchError(f"mqttbench did not finish within {wait:.0f} s: {' '.join(args[9:])}") from None
    if done.returncode != 0:
        raise MqttbenchError(f"mqttbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return parse_output(done.stdout)


def cores() -> int:
    """The cores this process (and so the broker and the generator) may run on."""
    return len(os.sched_getaffinity(0))


def saturated(generator_cores: float, broker_cores: float, machine: int) -> bool:
    """The generator, not the broker, set the rate: the broker had CPU to
    spare (less than 90% of the one core a single-threaded broker uses) and
    the generator took at least SATURATED of what the broker left on the
    machine's cores. Other load on the machine is not seen here."""
    return broker_cores < 0.9 and generator_cores >= SATURATED * (machine - broker_cores)


def measurement(result: dict[str, Any], machine: int) -> Measurement:
    """A Measurement from mqttbench's JSON line: the broker's CPU is what
    ``-broker-pid`` read over the measured phase (in clock ticks, 10 ms), the
    generator's its own over the same phase."""
    received = int(result.get("received", 0))
    seconds = float(result.get("seconds") or 0)
    generator = float(result.get("client_cpu_s", 0.0))
    broker = result.get("broker_cpu_s")
    m = Measurement(
        deliveries_per_s=float(result["deliveries_per_s"]),
        publishes_per_s=float(result.get("publishes_per_s", 0.0)),
        p50_ms=None if result.get("p50_ms", -1) < 0 else float(result["p50_ms"]),
        p99_ms=None if result.get("p99_ms", -1) < 0 else float(result["p99_ms"]),
        cpu_per_100k=float(result["broker_cpu_s_per_100k"]) if received and broker is not None else None,
        pcbench_cpu_per_100k=generator / received * 100_000 if received else None,
        generator_cores=generator / seconds if seconds else None,
        subs=result.get("subs"),
        lost=max(0, int(result.get("expected", 0)) - received),
        errors=list(result.get("errors") or []),
    )
    if result.get("duplicates"):
        m.errors.append(f"{result['duplicates']} deliveries repeated")
    if seconds and broker is not None and m.generator_cores is not None:
        broker_cores = float(broker) / seconds
        if saturated(m.generator_cores, broker_cores, machine):
            m.saturated = 1
            m.notes.append(f"generator saturated: {m.generator_cores:.2f} cores of the "
                           f"{machine - broker_cores:.2f} the broker left ({broker_cores:.2f} busy)")
    return m
