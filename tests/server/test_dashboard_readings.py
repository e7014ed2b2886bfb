"""The dashboard's overview cards and charts in chromium against a real hub
that records: what a chart draws is what GET /readings returned, with the
min/max band where the points are aggregated, live points appended, several
events on one chart, CSV; the cards follow a live publish; readings survive
a restart of the hub, and a browser whose clock is off by seconds still
charts the latest. Days past are written into the hub's database before
it starts, by the code the hub records with (tests/support/dashboard.py)."""

from __future__ import annotations

import math
import time
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import browser_fixture, http_publish  # noqa: F401 (fixtures)
from tests.support.dashboard import HUB_ARGS, KEY, get_json, log_in, show, tab_fixture, write_history  # noqa: F401

DAY = 86400
# The chart shows what it asked the hub for (not the range before).
READY = "() => PiCloudDash.chart.ready"
# Pixels of the plot area (inside the axes) drawn in the first line's colour.
LINE_PIXELS = """() => {
    const plot = PiCloudDash.chart.plot, box = plot.bbox;
    const [r, g, b] = PiCloudDash.seriesColor(0).match(/[0-9a-f]{2}/gi).map((h) => parseInt(h, 16));
    const pixels = plot.ctx.getImageData(box.left, box.top, box.width, box.height).data;
    let found = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const off = Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b);
        if (pixels[i + 3] > 200 && off < 40) {
            found += 1;
        }
    }
    return found;
}"""
# Whether the kitchen's sparkline has n points.
SPARK_POINTS = """(n) => {
    const line = document.querySelector("[data-event='kitchen/temp'] svg.spark polyline");
    return line !== null && line.getAttribute("points").split(" ").length === n;
}"""
# Each line's series as drawn: its x and y where y is a number, by series index.
DRAWN = """() => {
    const data = PiCloudDash.chart.plot.data;
    return data.slice(1).map((ys) => data[0].map((t, i) => [t, ys[i]]).filter((p) => typeof p[1] === "number"));
}"""


def wait_recorded(url: str, event: str) -> None:
    """Until the hub's database has readings of ``event`` (written every 0.1 s)."""
    deadline = time.monotonic() + 10
    while event not in {e["event"] for e in get_json(f"{url}/readings/events")["events"]}:
        assert time.monotonic() < deadline, f"{event} not recorded"
        time.sleep(0.05)  # the next look at the hub's answer


def wave(t: float) -> float:
    return round(20 + 5 * math.sin(t / DAY * 2 * math.pi), 2)


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    """A state directory with a week of kitchen readings, one a minute."""
    state = tmp_path_factory.mktemp("week")
    now = time.time()
    start = int(now - 7 * DAY) // 60 * 60
    minutes = range(start, int(now) - 120, 60)
    entries = [(t, "kitchen/temp", {"value": wave(t), "unit": "°C"}) for t in minutes]
    entries += [(t, "kitchen/humidity", {"value": 50 + wave(t) / 2, "unit": "%"}) for t in minutes]
    entries += [(t, "tele/tasmota_4A1B2C/SENSOR", {"ENERGY": {"Power": round(wave(t)), "Voltage": 230}})
                for t in range(int(now) - DAY, int(now) - 120, 300)]
    write_history(state, entries)
    return state


def requested(page: Page, event: str) -> dict:
    """What GET /readings answers for the request the chart made for ``event``."""
    path = page.evaluate(f"() => PiCloudDash.chart.requests[{event!r}]")
    return get_json(page.url.split("#")[0].rstrip("/") + "/" + path)


def columns(series: dict) -> list[list[list[float]]]:
    """A /readings series as the chart's (t, y) pairs: mean (or value), then max and min."""
    if series["raw"]:
        return [[list(p) for p in zip(series["t"], series["value"])]]
    return [[list(p) for p in zip(series["t"], series[k])] for k in ("mean", "max", "min")]


def test_the_overview_groups_cards_with_value_unit_sparkline_and_follows_a_publish(
        tab, hub_process, tmp_path: Path, week: Path) -> None:
    hub = hub_process(*HUB_ARGS, state_dir=week)
    assert http_publish(hub.url, KEY, "hall", 3) == 201
    page = tab()
    log_in(page, hub.url)
    groups = page.locator("#cards .group h2")
    expect(groups).to_have_text(["kitchen", "tasmota_4A1B2C", "Other events"])
    card = page.locator("#cards .card[data-event='kitchen/temp']")
    expect(card.locator("h3")).to_have_text("temp")
    expect(card.locator(".unit")).to_have_text("°C")
    expect(card.locator(".when")).to_contain_text(" ago")
    plug = page.locator("#cards .card[data-event='tele/tasmota_4A1B2C/SENSOR']")
    expect(plug.locator(".fields")).to_contain_text("ENERGY.Voltage 230")
    # The sparkline is the hub's: as many points as GET /readings/sparklines gave the card's first field.
    sparks = get_json(f"{hub.url}/readings/sparklines?from=-6h&points=60&event=kitchen%2Ftemp")
    points = len(sparks["events"]["kitchen/temp"][0]["t"])
    assert points > 30
    page.wait_for_function(SPARK_POINTS, arg=points)

    assert http_publish(hub.url, KEY, "kitchen/temp", {"value": 23.5, "unit": "°C"}) == 201
    expect(card.locator(".value")).to_have_text("23.5")
    expect(card.locator(".when")).to_contain_text(" s ago")
    page.wait_for_function(SPARK_POINTS, arg=points + 1)  # the live one appended
    # A new event has a card once the overview asks again (on being shown).
    assert http_publish(hub.url, KEY, "porch/temp", 4.5) == 201
    wait_recorded(hub.url, "porch/temp")
    show(page, "devices")
    show(page, "overview")
    expect(page.locator("#cards .card[data-event='porch/temp'] .value")).to_have_text("4.5")
    card.click()
    expect(page.locator("#view-chart")).to_be_visible()
    expect(page.locator("#chart-lines li")).to_have_text(["kitchen/temp\N{MULTIPLICATION SIGN}"])


def test_a_chart_draws_what_readings_returned_and_live_points(tab, hub_process, tmp_path: Path) -> None:
    state = tmp_path / "state"
    now = time.time()
    write_history(state, [(now - 300, "office/temp", {"value": 20.5, "unit": "°C"}),
                          (now - 200, "office/temp", {"value": 21.0, "unit": "°C"})])
    hub = hub_process(*HUB_ARGS, state_dir=state)
    assert http_publish(hub.url, KEY, "office/temp", {"value": 21.5, "unit": "°C"}) == 201
    # Published today, on a chart after the hub restarted.
    hub.stop()
    hub = hub_process(*HUB_ARGS, state_dir=state)
    page = tab()
    log_in(page, hub.url, view="chart?e=office/temp&range=1h")
    page.wait_for_function(READY)
    answer = requested(page, "office/temp")
    assert answer["series"][0]["raw"] and answer["series"][0]["value"] == [20.5, 21.0, 21.5]
    assert page.evaluate(DRAWN) == columns(answer["series"][0])
    assert page.evaluate(LINE_PIXELS) > 50
    expect(page.locator("#ranges button[aria-pressed=true]")).to_have_text("1 h")
    expect(page.locator(".u-legend")).to_contain_text("office/temp")

    assert http_publish(hub.url, KEY, "office/temp", {"value": 19.0, "unit": "°C"}) == 201
    page.wait_for_function("() => PiCloudDash.chart.plot.data[0].length === 4")
    assert page.evaluate(DRAWN)[0][-1][1] == 19.0


@pytest.mark.parametrize("behind", [1.5, -1.5, 30.0])
def test_a_browser_clock_off_by_seconds_charts_the_hubs_latest_reading(tab, hub_process, behind: float) -> None:
    dash_hub = hub_process(*HUB_ARGS)
    # The browser's clock is `behind` seconds behind the hub's (a Pi without
    # network time is the usual cause); a chart's range must still end at the
    # hub's now, not leave off what was published in the last seconds.
    page = tab()
    page.add_init_script(f"(() => {{ const real = Date.now; Date.now = () => real() - {behind * 1000}; }})()")
    log_in(page, dash_hub.url)
    hub_now = page.evaluate("() => PiCloudDash.now()")
    assert abs(hub_now - time.time()) < 0.5
    assert http_publish(dash_hub.url, KEY, "attic/temp", {"value": 12.5, "unit": "°C"}) == 201
    wait_recorded(dash_hub.url, "attic/temp")
    stamped = get_json(f"{dash_hub.url}/readings?event=attic/temp")["series"][0]["t"][-1]
    page.evaluate("() => { location.hash = '#chart?e=attic/temp&range=1h'; }")
    page.wait_for_function(READY)
    asked = urllib.parse.parse_qs(page.evaluate("() => PiCloudDash.chart.requests['attic/temp']").split("?", 1)[1])
    assert float(asked["to"][0]) >= stamped
    page.wait_for_function("() => PiCloudDash.chart.plot.data[0].length === 1")
    assert page.evaluate(DRAWN)[0][-1][1] == 12.5


def test_a_week_with_its_band_several_events_ranges_and_csv(tab, hub_process, week: Path) -> None:
    hub = hub_process(*HUB_ARGS, state_dir=week)
    page = tab(color_scheme="dark")
    log_in(page, hub.url, view="chart?e=kitchen/temp&range=7d")
    page.wait_for_function(READY)
    temp = requested(page, "kitchen/temp")["series"][0]
    assert not temp["raw"] and len(temp["t"]) > 500
    assert page.evaluate(DRAWN) == columns(temp)
    assert page.evaluate("() => PiCloudDash.chart.plot.bands.length") == 1
    assert page.evaluate(LINE_PIXELS) > 200

    page.select_option("#chart-event", "kitchen/humidity")
    page.click("#chart-add")
    expect(page.locator("#chart-lines li")).to_have_count(2)
    page.wait_for_function("() => PiCloudDash.chart.ready && PiCloudDash.chart.plot.series.length === 7")
    humidity = requested(page, "kitchen/humidity")["series"][0]
    assert page.evaluate(DRAWN) == columns(requested(page, "kitchen/temp")["series"][0]) + columns(humidity)
    assert "#chart?e=kitchen%2Ftemp&e=kitchen%2Fhumidity&range=7d" in page.url

    # One field of an event of several: the plug's power over 24 hours.
    page.select_option("#chart-event", "tele/tasmota_4A1B2C/SENSOR")
    page.select_option("#chart-field", "ENERGY.Power")
    page.click("#chart-add")
    page.click("#ranges button[data-range='24h']")
    expect(page.locator("#chart-lines li")).to_have_count(3)
    page.wait_for_function("() => PiCloudDash.chart.ready && PiCloudDash.chart.to - PiCloudDash.chart.from === 86400"
                           " && PiCloudDash.chart.lines.length === 3")
    power = next(s for s in requested(page, "tele/tasmota_4A1B2C/SENSOR")["series"] if s["field"] == "ENERGY.Power")
    drawn = page.evaluate(DRAWN)
    assert columns(power)[0] in drawn

    with page.expect_download() as download:
        page.click("#chart-csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "time,event,field,unit,min,max,mean,last,count"
    assert lines.count(lines[0]) == 1
    events = {line.split(",")[1] for line in lines[1:]}
    assert events == {"kitchen/temp", "kitchen/humidity", "tele/tasmota_4A1B2C/SENSOR"}

    # A range of one's own, from the form: a day a week ago.
    page.click("#ranges button[data-range='custom']")
    page.fill("#custom-from", time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 7 * DAY)))
    page.fill("#custom-to", time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 6 * DAY)))
    page.click("#custom-range button")
    page.wait_for_function("() => PiCloudDash.chart.ready && PiCloudDash.chart.to - PiCloudDash.chart.from === 86400"
                           " && PiCloudDash.chart.custom !== null")
    query = urllib.parse.parse_qs(page.url.split("?", 1)[1])
    assert "range" not in query and int(query["to"][0]) - int(query["from"][0]) == DAY
    assert page.evaluate(DRAWN)[0] == columns(requested(page, "kitchen/temp")["series"][0])[0]
