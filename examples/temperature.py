#!/usr/bin/env python3
"""Publish a temperature reading every few seconds.

Reads a DS18B20 on the 1-Wire bus when one is attached (``dtoverlay=w1-gpio``
in /boot/firmware/config.txt), else the Pi's CPU temperature through gpiozero.
On a machine with neither it says so and publishes simulated readings, so the
rest of a setup can be tried on a laptop::

    PICLOUD_URL=http://hub.local:9000 PICLOUD_API_KEY=... python3 temperature.py --event garden/temperature

While the hub is unreachable, readings are skipped with a warning and the
next one reconnects.
"""

from __future__ import annotations

import glob
import logging
import math
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

from _common import parser, setup

from picloud.client import AuthError, Client, ClientError

log = logging.getLogger("temperature")

W1_SLAVES = "/sys/bus/w1/devices/28-*/w1_slave"
Reader = Callable[[], float]


def ds18b20(path: str) -> Reader:
    def read() -> float:
        # Two lines: "... crc=da YES" and "... t=21562" (millidegrees).
        lines = Path(path).read_text().splitlines()
        if not lines or not lines[0].endswith("YES"):
            raise OSError(f"ds18b20 {path}: crc check failed")
        return int(lines[1].rsplit("t=", 1)[1]) / 1000

    return read


def simulated() -> Reader:
    start = time.monotonic()

    def read() -> float:
        return 21.0 + 3 * math.sin((time.monotonic() - start) / 60) + random.uniform(-0.2, 0.2)

    return read


def find_sensor(kind: str = "auto") -> tuple[str, Reader]:
    if kind in ("auto", "ds18b20"):
        found = sorted(glob.glob(W1_SLAVES))
        if found:
            return "ds18b20", ds18b20(found[0])
        if kind == "ds18b20":
            raise SystemExit("no DS18B20 under /sys/bus/w1/devices (is dtoverlay=w1-gpio set?)")
    if kind in ("auto", "cpu"):
        try:
            from gpiozero import CPUTemperature, PinFactoryFallback

            with warnings.catch_warnings():
                # Off the Pi, gpiozero warns of each GPIO library it lacks; the
                # one line below says what matters.
                warnings.simplefilter("ignore", PinFactoryFallback)
                cpu = CPUTemperature()
            cpu.temperature  # noqa: B018 (fails here, not in the loop, where there is none)
            return "cpu", lambda: cpu.temperature
        except Exception as exc:
            if kind == "cpu":
                raise SystemExit(f"cannot read the cpu temperature: {exc}") from None
    log.warning("no temperature sensor on this machine (not a Raspberry Pi?): publishing simulated readings")
    return "simulated", simulated()


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--event", default="temperature", help="event to publish on [default: temperature]")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between readings [default: 5]")
    p.add_argument("--sensor", choices=["auto", "ds18b20", "cpu", "simulated"], default="auto")
    p.add_argument("--count", type=int, default=None, help="stop after this many readings")
    args = p.parse_args(argv)
    setup(args.verbose)
    sensor, read = find_sensor(args.sensor)
    log.info("publishing %s readings on %r every %ss", sensor, args.event, args.interval)
    client = Client(args.url, args.api_key, args.client_name)
    sent = 0
    try:
        while args.count is None or sent < args.count:
            try:
                client.publish(args.event, round(read(), 2))
                sent += 1
            except AuthError as exc:
                raise SystemExit(str(exc)) from None
            except (ClientError, OSError) as exc:
                log.warning("%s; trying again in %ss", exc, args.interval)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
