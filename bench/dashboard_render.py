"""The dashboard's first render with a long history of devices: how long after
the login a connected device is on the page, in chromium, against a real
``picloud serve`` whose presence holds ``--offline`` names that real
websocket clients left (a thousand is as many as a hub keeps), with
``--events`` recorded events and ``--devices`` connected devices.

    python bench/dashboard_render.py [--offline 1000] [--events 200] [--devices 50] [--rounds 5]
    python bench/dashboard_render.py --screenshots docs/_static   # the docs' pictures instead

Needs the ``browser`` extra (Playwright) and Debian's chromium. The hub is
``sys.executable -m picloud`` run in ``--checkout`` (default: this one), so
that checkout's page is what is measured: ``--checkout ../main`` measures
another clone's. Prints one
JSON line: the median and every round of ``device_ms`` (login click to the
device's row in the devices view), ``overview_ms`` (to every card drawn;
0 for a page without cards), and the page's DOM elements and JS heap then.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from playwright.sync_api import Browser

KEY = "bench-key-0123456789"
LISTENING = re.compile(r"listening on \w+://\S*:(\d+)")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def client_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body  # payloads < 126 bytes


async def visit(port: int, name: str, stay: bool = False) -> asyncio.StreamWriter:
    """A websocket client named ``name`` on /publish; it leaves unless ``stay``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /publish?clientName={name} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"upgrade refused: {head[:40]!r}")
    if not stay:
        writer.write(client_frame(0x8, struct.pack("!H", 1000)))
        await reader.read()  # the hub's close, then EOF
        writer.close()
    return writer


async def populate(port: int, offline: int, devices: int) -> list[asyncio.StreamWriter]:
    for start in range(0, offline, 100):
        await asyncio.gather(*(visit(port, f"script-{i:04}") for i in range(start, min(offline, start + 100))))
    return list(await asyncio.gather(*(visit(port, f"device-{i:02}", stay=True) for i in range(devices))))


def publish(url: str, batch: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(f"{url}/publish", data=json.dumps(batch).encode(), method="POST",
                                     headers={"X-API-Key": KEY, "X-API-Client-Name": "bench",
                                              "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def publish_readings(url: str, events: int) -> None:
    """Each event of a device a few readings (one batch a second: one raw point a second per series)."""
    for round_ in range(3 if events else 0):
        publish(url, [{"event": f"home/device-{i % 50:02}/sensor{i // 50}",
                       "data": {"value": round(20 + 5 * math.sin(i + round_), 2), "unit": "°C"}}
                      for i in range(events)])
        time.sleep(1.05)


class Hub(subprocess.Popen[str]):
    port = 0


def start_hub(checkout: Path, state: str) -> tuple[Hub, str]:
    """``picloud serve`` of ``checkout`` on a free port, its readings written every 0.1 s."""
    hub = Hub(
        [sys.executable, "-m", "picloud", "serve", "--port", "0", "--host", "127.0.0.1", "--no-mqtt",
         "--api-key", KEY, "--state-dir", state, "--log-level", "warning", "--store-interval", "0.1",
         "--max-pending", "10000", "--max-pending-per-ip", "10000"],
        stdout=subprocess.PIPE, text=True, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout.resolve())},
    )
    for line in hub.stdout:  # type: ignore[union-attr]
        match = LISTENING.search(line)
        if match:
            hub.port = int(match.group(1))
            return hub, f"http://127.0.0.1:{hub.port}"
    hub.wait()
    sys.exit("hub did not start")


def measure(browser: Browser, url: str, events: int) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url + "/#devices")
    page.fill("#api-key", KEY)
    started = time.monotonic()
    page.click("#login-form button[type=submit]")
    page.locator("#devices tbody tr", has_text="device-00").wait_for(timeout=60_000)
    device_ms = (time.monotonic() - started) * 1000
    overview_ms = 0.0
    if events and page.evaluate("() => !!window.PiCloudDash"):
        page.click("#tabs a[href='#overview']")
        page.wait_for_function(f"() => document.querySelectorAll('#cards .card').length >= {events}",
                               timeout=60_000)
        overview_ms = (time.monotonic() - started) * 1000
    heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : 0")
    nodes = page.evaluate("() => document.getElementsByTagName('*').length")
    context.close()
    return {"device_ms": round(device_ms), "overview_ms": round(overview_ms), "dom_elements": nodes,
            "js_heap_mib": round(heap / 2**20, 1)}


DAY = 86400


def wave(t: float, swing: float, base: float, period: float = DAY) -> float:
    return round(base + swing * math.sin(t / period * 2 * math.pi), 2)


def seed_history(state: Path) -> None:
    """Two days of a small home, one reading a minute, written into the state
    directory's database by the code the hub records with, before it starts."""
    from picloud.stores.sqlite.database import FILE_NAME, Database
    from picloud.stores.sqlite.readings import Readings
    from picloud.stores.sqlite.schema import READINGS
    from picloud.wire.codec import encode_publish

    now = int(time.time()) // 60 * 60
    db = Database(state / FILE_NAME, [READINGS])
    db.open()
    readings = Readings(2000)
    db.write_now(readings.load)
    batch = []
    for t in range(now - 2 * DAY, now - 60, 60):
        for event, data in (
            ("kitchen/temp", {"value": wave(t, 2.5, 21), "unit": "°C"}),
            ("kitchen/humidity", {"value": wave(t + 9000, 7, 52), "unit": "%"}),
            ("living-room/temp", {"value": wave(t + 3000, 1.5, 20.5), "unit": "°C"}),
            ("garden/soil", {"value": wave(t, 4, 38, 2 * DAY), "unit": "%"}),
            ("solar/inverter", {"value": max(0.0, wave(t - 21600, 2400, 600)), "unit": "W"}),
            ("tele/tasmota_4A1B2C/SENSOR", {"ENERGY": {"Power": abs(wave(t, 45, 60, 5400)), "Voltage": 231,
                                                       "Today": round((t % DAY) / DAY * 1.6, 3)}}),
        ):
            batch.append((float(t), event, encode_publish(event, data)))

    def write(chunk: list[tuple[float, str, bytes]]) -> None:
        db.write_now(lambda conn: readings.write(conn, chunk))

    for start in range(0, len(batch), 5000):
        write(batch[start:start + 5000])
    db.close()


def screenshots(browser: Browser, url: str, into: Path) -> None:
    """The docs' pictures: the overview at 1280 and 390 px, light and dark, a
    chart at both widths, the devices and the topic tree."""
    into.mkdir(parents=True, exist_ok=True)
    chart = "#chart?e=kitchen/temp&e=kitchen/humidity&range=24h"
    scenes: list[tuple[int, int, Literal["light", "dark"], tuple[str, ...]]] = [
        (1280, 800, "light", ("overview", "chart", "devices", "topics")), (1280, 800, "dark", ("overview",)),
        (390, 844, "light", ("overview",)), (390, 844, "dark", ("overview", "chart"))]
    for width, height, scheme, views in scenes:
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        page = context.new_page()
        page.goto(url + "/")
        page.fill("#api-key", KEY)
        page.click("#login-form button[type=submit]")
        page.mouse.move(0, 0)
        for view in views:
            page.evaluate(f"() => {{ location.hash = {json.dumps(chart if view == 'chart' else '#' + view)}; }}")
            if view == "overview":
                page.wait_for_function("() => document.querySelectorAll('#cards svg.spark polyline').length >= 6")
            elif view == "chart":
                page.wait_for_function("() => PiCloudDash.chart.ready")
                box = page.locator("#plot .u-over").bounding_box()
                assert box is not None
                page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5)
            elif view == "devices":
                page.click("#offline-section summary")
            elif view == "topics":
                page.wait_for_selector("#topic-tree .twisty")
                for path in ("tele", "tele/tasmota_4A1B2C", "zigbee2mqtt"):
                    page.locator(f"li[data-path='{path}'] > .line .twisty").click()
            page.wait_for_timeout(300)  # nothing left to draw
            page.screenshot(path=str(into / f"dashboard-{view}-{width}-{scheme}.png"))
        context.close()


def showcase(checkout: Path, into: Path) -> None:
    """A hub with two days of readings and a few devices, for the screenshots."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as state:
        seed_history(Path(state))
        hub, url = start_hub(checkout, state)
        try:
            async def devices() -> list[asyncio.StreamWriter]:
                for name in ("old-plug", "test-script"):
                    await visit(hub.port, name)
                return [await visit(hub.port, name, stay=True)
                        for name in ("DVES_4A1B2C", "zigbee2mqtt-bridge", "kitchen-esp32")]

            loop = asyncio.new_event_loop()
            held = loop.run_until_complete(devices())
            publish(url, [
                {"event": "homeassistant/sensor/tasmota_4A1B2C_power/config",
                 "data": {"state_topic": "tele/tasmota_4A1B2C/SENSOR", "unit_of_measurement": "W",
                          "value_template": "{{ value_json.ENERGY.Power }}"}, "retain": True},
                {"event": "zigbee2mqtt/front-door", "data": {"contact": True, "battery": 97, "linkquality": 120}},
                {"event": "stat/tasmota_4A1B2C/POWER", "data": "ON", "retain": True},
                {"event": "kitchen/temp", "data": {"value": 21.4, "unit": "°C"}},
                {"event": "kitchen/humidity", "data": {"value": 51.2, "unit": "%"}},
                {"event": "tele/tasmota_4A1B2C/SENSOR",
                 "data": {"ENERGY": {"Power": 64, "Voltage": 231, "Today": 1.21}}},
                {"event": "tele/tasmota_4A1B2C/STATE", "data": {"POWER": "ON", "Wifi": {"RSSI": 78}}},
            ])
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                screenshots(browser, url, into)
                browser.close()
            for writer in held:
                writer.close()
            loop.close()
        finally:
            hub.terminate()
            hub.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", type=int, default=1000, help="offline names left by clients")
    parser.add_argument("--devices", type=int, default=50, help="devices connected throughout")
    parser.add_argument("--events", type=int, default=200, help="recorded events")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--screenshots", type=Path, metavar="DIR",
                        help="instead, save the docs' screenshots of a hub with two days of readings in DIR")
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose hub and page are measured")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if args.screenshots:
        showcase(args.checkout, args.screenshots)
        return
    with tempfile.TemporaryDirectory() as state:
        hub, url = start_hub(args.checkout, state)
        try:
            loop = asyncio.new_event_loop()
            held = loop.run_until_complete(populate(hub.port, args.offline, args.devices))
            publish_readings(url, args.events)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                rounds = [measure(browser, url, args.events) for _ in range(args.rounds)]
                browser.close()
            for writer in held:
                writer.close()
            loop.close()
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    print(json.dumps({
        "offline": args.offline, "devices": args.devices, "events": args.events,
        "device_ms": statistics.median(r["device_ms"] for r in rounds),
        "overview_ms": statistics.median(r["overview_ms"] for r in rounds),
        "dom_elements": rounds[-1]["dom_elements"], "js_heap_mib": rounds[-1]["js_heap_mib"],
        "rounds": rounds,
    }))


if __name__ == "__main__":
    main()
