"""The dashboard in Debian's chromium against a real ``picloud serve``."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (  # noqa: F401 (fixtures)
    ClientLoop,
    browser_fixture,
    clients_fixture,
    http_publish,
    page_fixture,
)
from tests.support.mqtt import Peer

KEY = "dashboard-test-key"  # 18 characters
# True once the chart has drawn a sample above zero.
CHART_SHOWS_TRAFFIC = """() => {
    const line = document.querySelector('#chart polyline');
    return line !== null && line.getAttribute('points').split(' ')
        .some((p) => parseFloat(p.split(',')[1]) < 130);
}"""


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY, "--info-interval", "0.2")


def log_in(page: Page, url: str, key: str = KEY) -> None:
    page.goto(url)
    page.fill("#api-key", key)
    page.click("#login-form button[type=submit]")


def test_routes_serve_the_page_and_client_without_key(hub) -> None:
    for path, kind in [("/", "text/html"), ("/dashboard", "text/html"),
                       ("/picloud.js", "javascript"), ("/static/dashboard.css", "text/css")]:
        with urllib.request.urlopen(hub.url + path, timeout=5) as response:
            assert kind in response.headers["Content-Type"], path
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(hub.url + "/stats", timeout=5)
    assert refused.value.code == 401


def test_live_connections_tail_publish_and_chart(
    page: Page, hub, clients: ClientLoop, tmp_path: Path
) -> None:
    log_in(page, hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    assert KEY not in page.url
    expect(page.locator("#no-connections")).to_be_visible()

    sensor = clients.connect(f"{hub.ws_url}/subscribe?clientName=kitchen-sensor", KEY)
    clients.send_json(sensor, {"action": "subscribe", "event": "temperature"})
    clients.send_json(sensor, {"action": "subscribe", "event": "lights"})
    row = page.locator("#connections tbody tr", has_text="kitchen-sensor")
    expect(row).to_contain_text(re.compile(r"127\.0\.0\.1:\d+"))
    expect(row).to_contain_text(re.compile(r"\d+ s ago"))
    expect(row).to_contain_text("websocket")
    expect(page.locator("#no-connections")).to_be_hidden()
    plug = Peer(hub.mqtt_port, "tasmota-plug", key=KEY, keepalive=30)  # MQTT beside the websockets
    plug_row = page.locator("#connections tbody tr", has_text="tasmota-plug")
    expect(plug_row).to_contain_text("mqtt 3.1.1")
    assert plug_row.locator("td").nth(2).get_attribute("title") == "keepalive 30 s, clean session"
    plug.close()

    page.fill("#watch-event", "temperature")
    page.click("#watch-form button")
    # Once the hub lists the dashboard as a subscriber, a publish reaches it.
    temperature = page.locator("#subscriptions tbody tr", has_text="temperature")
    expect(temperature).to_contain_text("kitchen-sensor")
    expect(temperature).to_contain_text("dashboard-")
    for _ in range(5):
        assert http_publish(hub.url, KEY, "temperature", {"celsius": 21.5}) == 201
    expect(page.locator("#tail tbody tr").first).to_contain_text('{"celsius":21.5}')
    expect(page.locator("#tail tbody tr")).to_have_count(5)
    assert clients.read_json(sensor)["data"] == {"celsius": 21.5}

    # The publish form sends JSON as JSON, other text as text, like the CLI.
    expect(page.locator("#pub-data-rule")).to_contain_text("is sent as that value")
    for _ in range(4):
        clients.read_json(sensor)
    for typed, as_text, sent in (('{"on": true}', False, {"on": True}), ("21.5", False, 21.5),
                                 ("on", False, "on"), ("21.5", True, "21.5")):
        page.fill("#pub-event", "temperature")
        page.fill("#pub-data", typed)
        page.set_checked("#pub-string", as_text)
        page.click("#publish-form button")
        expect(page.locator("#publish-result")).to_contain_text("published")
        assert clients.read_json(sensor)["data"] == sent

    page.wait_for_function(CHART_SHOWS_TRAFFIC, timeout=10_000)
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # The key is asked once per tab: a reload goes straight back in.
    page.reload()
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#login")).to_be_hidden()


def test_retained_values_and_devices(page: Page, hub, clients: ClientLoop, tmp_path: Path) -> None:
    log_in(page, hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#no-retained")).to_be_visible()
    own = page.locator("#devices tbody tr.own")
    expect(own).to_contain_text("online")
    # The page's own subscription to presence is not listed as anyone's.
    expect(page.locator("#no-subscriptions")).to_be_visible()

    sensor = clients.connect(f"{hub.ws_url}/publish?clientName=porch-sensor", KEY)
    device = page.locator("#devices tbody tr", has_text="porch-sensor")
    expect(device).to_contain_text("online")
    clients.send_json(sensor, {"action": "publish", "event": "porch/temp", "data": {"celsius": 4.5},
                               "retain": True, "id": 1})
    assert clients.read_json(sensor) == {"action": "ack", "id": 1}
    value = page.locator("#retained tbody tr", has_text="porch/temp")
    # A wildcard watch gets it too (as a retained value if it started later).
    page.fill("#watch-event", "porch/+")
    page.click("#watch-form button")
    expect(page.locator("#tail tbody tr").first).to_contain_text("porch/temp")
    expect(value).to_contain_text('{"celsius":4.5}')
    expect(value).to_contain_text(re.compile(r"\d+ s ago"))
    expect(page.locator("#no-retained")).to_be_hidden()
    shot = tmp_path / "retained.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    clients.send_json(sensor, {"action": "publish", "event": "porch/temp", "data": None,
                               "retain": True, "id": 2})
    assert clients.read_json(sensor) == {"action": "ack", "id": 2}
    expect(value).to_have_count(0)
    expect(page.locator("#no-retained")).to_be_visible()

    clients.loop.call_soon_threadsafe(sensor.close)
    expect(device).to_contain_text("offline")
    expect(device).not_to_contain_text("online")
    # The page's own presence is kept apart: its row says online throughout.
    expect(own).to_contain_text("online")
    page.screenshot(path=str(tmp_path / "offline.png"), full_page=True)


def test_retain_from_the_publish_form(page: Page, hub) -> None:
    log_in(page, hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    page.fill("#pub-event", "porch/light")
    page.fill("#pub-data", "on")
    page.check("#pub-retain")
    page.click("#publish-form button")
    expect(page.locator("#retained tbody tr", has_text="porch/light")).to_contain_text('"on"')
    request = urllib.request.Request(hub.url + "/retained?event=porch/light", headers={"X-API-Key": KEY})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["retained"][0]["data"] == "on"


def test_the_publish_form_switches_a_tasmota_plug(page: Page, hub) -> None:
    """Tasmota's commands are plain text on cmnd/<topic>/<command>: the form's
    ``TOGGLE`` reaches the plug as those bytes, and its answer shows up."""
    plug = Peer(hub.mqtt_port, "DVES_4A1B2C", key=KEY, keepalive=30)
    plug.subscribe(("cmnd/tasmota_4A1B2C/#", 0))
    log_in(page, hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    page.fill("#pub-event", "cmnd/tasmota_4A1B2C/POWER")
    page.fill("#pub-data", "TOGGLE")
    page.click("#publish-form button")
    got = plug.receive()
    assert (got.topic, got.payload) == ("cmnd/tasmota_4A1B2C/POWER", b"TOGGLE")
    plug.publish("stat/tasmota_4A1B2C/POWER", "ON", qos=1, retain=True)
    expect(page.locator("#retained tbody tr", has_text="stat/tasmota_4A1B2C/POWER")).to_contain_text('"ON"')
    plug.close()


def test_wrong_key_is_refused(page: Page, hub) -> None:
    log_in(page, hub.url + "/dashboard", key="not-the-key")
    expect(page.locator("#login-error")).to_contain_text("Wrong key")
    expect(page.locator("#status")).to_have_text("wrong key")
    expect(page.locator("#main")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('picloud.apiKey')") is None


def test_unreachable_hub_is_shown_and_reconnected(page: Page, hub, hub_process) -> None:
    log_in(page, hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    hub.stop()
    expect(page.locator("#status")).to_contain_text("hub unreachable, retrying in")
    expect(page.locator("#main")).to_have_class("stale")
    hub_process("--api-key", KEY, "--info-interval", "0.2", "--port", str(hub.port))
    expect(page.locator("#status")).to_have_text("live", timeout=15_000)
    expect(page.locator("#main")).not_to_have_class("stale")
    # Presence comes again from the new hub: the page is back online in it.
    expect(page.locator("#devices tbody tr.own")).to_contain_text("online", timeout=15_000)


def test_hub_without_auth_needs_no_key(page: Page, hub_process) -> None:
    open_hub = hub_process("--no-auth", "--info-interval", "0.2")
    page.goto(open_hub.url + "/")
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#login")).to_be_hidden()


def test_a_key_held_to_some_topics_sees_what_it_may(page: Page, hub_process, tmp_path: Path) -> None:
    tablet = "Zr4p0Tf2Yq5Kx8Nn"
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\n{tablet} subscribe home/# $SYS/clients/+\n")
    hub = hub_process("--keys-file", str(keys), "--info-interval", "0.2")
    for event in ("home/temp", "door/state"):
        assert http_publish(hub.url, KEY, event, 1, retain=True) == 201
    log_in(page, hub.url + "/", key=tablet)
    expect(page.locator("#status")).to_have_text("live, limited key")
    expect(page.locator("#limited")).to_contain_text("This key may see only home/#, $SYS/clients/+")
    # What shows every event is hidden; what the key may read is shown.
    expect(page.locator("#connections")).to_be_hidden()
    expect(page.locator("#retained tbody tr", has_text="home/temp")).to_be_visible()
    expect(page.locator("#retained tbody tr", has_text="door/state")).to_have_count(0)
    expect(page.locator("#devices tbody tr.own")).to_contain_text("online")
    page.fill("#watch-event", "door/#")
    page.click("#watch-form button")
    expect(page.locator("#watch-error")).to_contain_text("refused: this key may not subscribe to 'door/#'")
    page.screenshot(path=str(tmp_path / "limited.png"), full_page=True)
