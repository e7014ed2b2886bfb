"""The dashboard's first render with a long history of devices: how long after
the login a connected device is on the page, in chromium, against a real
``picloud serve`` whose presence holds ``--offline`` names that real
websocket clients left (a thousand is as many as a hub keeps), with
``--events`` recorded events and ``--devices`` connected devices.

    python bench/dashboard_render.py [--offline 1000] [--events 200] [--devices 50] [--rounds 5]
    python bench/dashboard_render.py --screenshots docs/_static   # the docs' pictures too

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


def publish_readings(url: str, events: int) -> None:
    """Each event of a device a few readings (batches of one HTTP request)."""
    for round_ in range(3 if events else 0):
        batch = [{"event": f"home/device-{i % 50:02}/sensor{i // 50}",
                  "data": {"value": round(20 + 5 * math.sin(i + round_), 2), "unit": "°C"}} for i in range(events)]
        request = urllib.request.Request(f"{url}/publish", data=json.dumps(batch).encode(), method="POST",
                                         headers={"X-API-Key": KEY, "X-API-Client-Name": "bench",
                                                  "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        time.sleep(1.05)  # one raw point a second per series


def measure(browser, url: str, events: int) -> dict[str, float]:
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


def screenshots(browser, url: str, into: Path) -> None:
    """The overview and a chart at 1280 and 390 px, light and dark."""
    into.mkdir(parents=True, exist_ok=True)
    chart = "#chart?e=home/device-00/sensor0&e=home/device-01/sensor0&range=1h"
    for width, height in ((1280, 860), (390, 844)):
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme,
                                          device_scale_factor=1)
            page = context.new_page()
            page.goto(url + "/")
            page.fill("#api-key", KEY)
            page.click("#login-form button[type=submit]")
            page.wait_for_function("() => document.querySelectorAll('#cards .card').length > 0")
            page.wait_for_timeout(500)  # the sparklines' answer
            page.screenshot(path=str(into / f"dashboard-overview-{width}-{scheme}.png"))
            page.evaluate(f"() => {{ location.hash = {json.dumps(chart)}; }}")
            page.wait_for_function("() => PiCloudDash.chart.plot !== null")
            page.screenshot(path=str(into / f"dashboard-chart-{width}-{scheme}.png"))
            context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", type=int, default=1000, help="offline names left by clients")
    parser.add_argument("--devices", type=int, default=50, help="devices connected throughout")
    parser.add_argument("--events", type=int, default=200, help="recorded events")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="also save the docs' screenshots in DIR")
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose hub and page are measured")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as state:
        hub = subprocess.Popen(
            [sys.executable, "-m", "picloud", "serve", "--port", "0", "--host", "127.0.0.1", "--no-mqtt",
             "--api-key", KEY, "--state-dir", state, "--log-level", "warning", "--store-interval", "0.1",
             "--max-pending", "10000", "--max-pending-per-ip", "10000"],
            stdout=subprocess.PIPE, text=True, cwd=args.checkout,
            env={**os.environ, "PYTHONPATH": str(args.checkout.resolve())},
        )
        try:
            port = None
            for line in hub.stdout:  # type: ignore[union-attr]
                match = LISTENING.search(line)
                if match:
                    port = int(match.group(1))
                    break
            if port is None:
                sys.exit("hub did not start")
            url = f"http://127.0.0.1:{port}"
            loop = asyncio.new_event_loop()
            held = loop.run_until_complete(populate(port, args.offline, args.devices))
            publish_readings(url, args.events)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                rounds = [measure(browser, url, args.events) for _ in range(args.rounds)]
                if args.screenshots:
                    screenshots(browser, url, args.screenshots)
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
