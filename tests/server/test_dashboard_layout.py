"""The dashboard from a 360 px phone to a wall tablet, in chromium against a
real hub: no view is wider than the screen and no number breaks across
lines; with 200 events and 50 devices the page stays small in DOM and heap."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.support.browser import ClientLoop, browser_fixture, clients_fixture, http_publish  # noqa: F401
from tests.support.dashboard import (  # noqa: F401 (fixtures)
    KEY,
    dash_hub_fixture,
    get_json,
    hold_devices,
    log_in,
    publish_batch,
    show,
    tab_fixture,
)

VIEWS = ("overview", "chart", "devices", "topics", "live", "hub")
# Every .num whose text is laid out on more than one line, and the page's width against the window's.
BROKEN_NUMBERS = """() => Array.from(document.querySelectorAll(".num")).filter((el) => {
    if (!el.offsetParent || !el.textContent) { return false; }
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top)));
    return tops.size > 1;
}).map((el) => el.textContent)"""
WIDTHS = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# DOM elements, and the JS heap after a garbage collection (Chrome's own counters).
LIMIT_ELEMENTS = 4000
LIMIT_HEAP = 24 * 2**20


def readings(url: str) -> None:
    publish_batch(url, [
        {"event": "garden/greenhouse-north-east/temperature", "data": {"value": -1234.5678, "unit": "°C"}},
        {"event": "tele/tasmota_4A1B2C/SENSOR",
         "data": {"ENERGY": {"Power": 1234567.891, "Voltage": 231, "Today": 0.000123, "Total": 98765.4321}}},
        {"event": "solar/inverter/yield", "data": {"value": 17.07, "unit": "kWh"}},
        {"event": "kitchen/temp", "data": 21.5},
    ])
    assert http_publish(url, KEY, "zigbee2mqtt/a-very-long-device-name-from-the-garden-shed",
                        {"contact": True, "battery": 97, "linkquality": 120, "voltage": 3015}, retain=True) == 201


def check(page: Page, width: int) -> None:
    for view in VIEWS:
        show(page, view)
        if view == "chart":
            page.wait_for_function("() => PiCloudDash.chart.ready")
        scroll, inner = page.evaluate(WIDTHS)
        assert scroll <= inner, f"{view} at {width} px is {scroll} px wide"
        assert page.evaluate(BROKEN_NUMBERS) == [], f"{view} at {width} px"


def test_from_a_phone_to_a_wall_tablet(tab, dash_hub, clients: ClientLoop) -> None:
    readings(dash_hub.url)
    hold_devices(clients, dash_hub.port, ["DVES_4A1B2C", "the-greenhouse-controller-behind-the-shed"])
    for width, height, scheme in ((360, 740, "light"), (390, 844, "dark"), (1920, 1080, "dark")):
        page = tab(width=width, height=height, color_scheme=scheme)
        log_in(page, dash_hub.url, view="chart?e=tele/tasmota_4A1B2C/SENSOR&e=solar/inverter/yield&range=1h")
        expect(page.locator("#cards .card")).to_have_count(0)  # not drawn before it is shown
        show(page, "live")
        page.fill("#watch-event", "tele/#")
        page.click("#watch-form button")
        assert http_publish(dash_hub.url, KEY, "tele/tasmota_4A1B2C/SENSOR",
                            {"ENERGY": {"Power": 1234567.891, "Total": 98765.4321, "Factor": [0.98, 0.97]}}) == 201
        expect(page.locator("#tail tbody tr")).to_have_count(1)
        show(page, "overview")
        expect(page.locator("#cards .card")).to_have_count(5)
        show(page, "topics")
        for path in ("tele", "tele/tasmota_4A1B2C", "zigbee2mqtt"):
            page.locator(f"li[data-path='{path}'] > .line .twisty").click()
        expect(page.locator("li[data-event='tele/tasmota_4A1B2C/SENSOR'] .value")).to_be_visible()
        show(page, "devices")
        expect(page.locator("#devices tbody tr")).to_have_count(3)
        check(page, width)
        page.close()


def test_two_hundred_events_and_fifty_devices_stay_small(tab, dash_hub, clients: ClientLoop) -> None:
    events = [f"home/room{i % 25:02}/sensor{i // 25}" for i in range(200)]
    publish_batch(dash_hub.url, [{"event": e, "data": {"value": i / 7, "unit": "°C"}} for i, e in enumerate(events)])
    hold_devices(clients, dash_hub.port, [f"room{i:02}-sensor" for i in range(50)])
    deadline = time.monotonic() + 10
    while len(get_json(f"{dash_hub.url}/readings/events")["events"]) < 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)  # the hub writes its readings every 0.1 s
    page = tab(width=1280, height=900)
    log_in(page, dash_hub.url)
    expect(page.locator("#cards .card")).to_have_count(200)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    for view in VIEWS:
        show(page, view)
        if view == "devices":
            expect(page.locator("#devices tbody tr")).to_have_count(51)
        if view == "hub":
            expect(page.locator("#connections tbody tr")).to_have_count(51)
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        elements = page.evaluate("() => document.getElementsByTagName('*').length")
        assert elements < LIMIT_ELEMENTS, f"{elements} elements on {view}"
        assert metrics["JSHeapUsedSize"] < LIMIT_HEAP, f"{metrics['JSHeapUsedSize'] / 2**20:.1f} MiB on {view}"
    # Every card follows its event: 200 subscriptions of the page's one socket.
    publish_batch(dash_hub.url, [{"event": e, "data": {"value": 99.5, "unit": "°C"}} for e in events])
    show(page, "overview")
    expect(page.locator("#cards .card .value", has_text="99.5")).to_have_count(200)
