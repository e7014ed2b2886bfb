"""The dashboard's live view (the tail of watched events, the publish form)
and its hub view (connections, websocket and MQTT side by side,
subscriptions, messages per second), in chromium against a real hub."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.browser import ClientLoop, browser_fixture, clients_fixture, http_publish  # noqa: F401
from tests.support.dashboard import KEY, dash_hub_fixture, get_json, log_in, show, tab_fixture  # noqa: F401
from tests.support.mqtt import Peer

# True once the chart of messages per second has drawn a sample above zero.
CHART_SHOWS_TRAFFIC = """() => {
    const line = document.querySelector('#chart polyline');
    return line !== null && line.getAttribute('points').split(' ')
        .some((p) => parseFloat(p.split(',')[1]) < 130);
}"""


def test_connections_subscriptions_tail_publish_and_rate(tab, dash_hub, clients: ClientLoop) -> None:
    page = tab()
    log_in(page, dash_hub.url, view="hub")
    expect(page.locator("#no-connections")).to_be_visible()
    # The page's own subscriptions (presence, the cards' events) are not listed as anyone's.
    expect(page.locator("#no-subscriptions")).to_be_visible()
    sensor = clients.connect(f"{dash_hub.ws_url}/subscribe?clientName=kitchen-sensor", KEY)
    clients.send_json(sensor, {"action": "subscribe", "event": "temperature"})
    row = page.locator("#connections tbody tr", has_text="kitchen-sensor")
    expect(row).to_contain_text(re.compile(r"127\.0\.0\.1:\d+"))
    expect(row).to_contain_text(re.compile(r"\d+ s ago"))
    expect(row).to_contain_text("websocket")
    expect(page.locator("#no-connections")).to_be_hidden()
    plug = Peer(dash_hub.mqtt_port, "tasmota-plug", key=KEY, keepalive=30)  # MQTT beside the websockets
    plug_row = page.locator("#connections tbody tr", has_text="tasmota-plug")
    expect(plug_row).to_contain_text("mqtt 3.1.1")
    assert plug_row.locator("td").nth(2).get_attribute("title") == "keepalive 30 s, clean session"
    expect(page.locator("#n-split")).to_have_text("1 websocket, 1 MQTT")
    plug.close()

    show(page, "live")
    page.fill("#watch-event", "temperature")
    page.click("#watch-form button")
    # Once the hub lists the dashboard as a subscriber, a publish reaches it.
    show(page, "hub")
    temperature = page.locator("#subscriptions tbody tr", has_text="temperature")
    expect(temperature).to_contain_text("kitchen-sensor")
    expect(temperature).to_contain_text("dashboard-")
    for _ in range(5):
        assert http_publish(dash_hub.url, KEY, "temperature", {"celsius": 21.5}) == 201
    page.wait_for_function(CHART_SHOWS_TRAFFIC, timeout=10_000)
    show(page, "live")
    expect(page.locator("#tail tbody tr").first).to_contain_text('{"celsius":21.5}')
    expect(page.locator("#tail tbody tr")).to_have_count(5)
    for _ in range(5):
        assert clients.read_json(sensor)["data"] == {"celsius": 21.5}

    # The publish form sends JSON as JSON, other text as text, like the CLI.
    expect(page.locator("#pub-data-rule")).to_contain_text("is sent as that value")
    for typed, as_text, sent in (('{"on": true}', False, {"on": True}), ("21.5", False, 21.5),
                                 ("on", False, "on"), ("21.5", True, "21.5")):
        page.fill("#pub-event", "temperature")
        page.fill("#pub-data", typed)
        page.set_checked("#pub-string", as_text)
        page.click("#publish-form button")
        expect(page.locator("#publish-result")).to_contain_text("published")
        assert clients.read_json(sensor)["data"] == sent
    # Refusals in the hub's plain words.
    page.fill("#pub-event", "$SYS/clients/x")
    page.click("#publish-form button")
    expect(page.locator("#publish-result")).to_have_class("error")
    expect(page.locator("#publish-result")).to_contain_text("refused: ")

    # The rate's samples outlive a reload of the page.
    page.reload()
    expect(page.locator("#status")).to_have_text("live")
    show(page, "hub")
    page.wait_for_function(CHART_SHOWS_TRAFFIC, timeout=1_000)


def test_retained_values_and_the_form_and_a_tasmota_plug(tab, dash_hub, clients: ClientLoop) -> None:
    """Tasmota's commands are plain text on cmnd/<topic>/<command>: the form's
    ``TOGGLE`` reaches the plug as those bytes, and its retained answer shows."""
    plug = Peer(dash_hub.mqtt_port, "DVES_4A1B2C", key=KEY, keepalive=30)
    plug.subscribe(("cmnd/tasmota_4A1B2C/#", 0))
    page = tab()
    log_in(page, dash_hub.url, view="topics")
    expect(page.locator("#no-retained")).to_be_visible()

    sensor = clients.connect(f"{dash_hub.ws_url}/publish?clientName=porch-sensor", KEY)
    clients.send_json(sensor, {"action": "publish", "event": "porch/temp", "data": {"celsius": 4.5},
                               "retain": True, "id": 1})
    assert clients.read_json(sensor) == {"action": "ack", "id": 1}
    value = page.locator("#retained tbody tr", has_text="porch/temp")
    expect(value).to_contain_text('{"celsius":4.5}')
    expect(value).to_contain_text(re.compile(r"\d+ s ago"))
    expect(page.locator("#no-retained")).to_be_hidden()
    # A wildcard watch gets it too (as a retained value if it started later).
    show(page, "live")
    page.fill("#watch-event", "porch/+")
    page.click("#watch-form button")
    expect(page.locator("#tail tbody tr").first).to_contain_text("porch/temp")

    page.fill("#pub-event", "cmnd/tasmota_4A1B2C/POWER")
    page.fill("#pub-data", "TOGGLE")
    page.click("#publish-form button")
    got = plug.receive()
    assert (got.topic, got.payload) == ("cmnd/tasmota_4A1B2C/POWER", b"TOGGLE")
    plug.publish("stat/tasmota_4A1B2C/POWER", "ON", qos=1, retain=True)
    page.fill("#pub-event", "porch/light")
    page.fill("#pub-data", "on")
    page.check("#pub-retain")
    page.click("#publish-form button")
    expect(page.locator("#publish-result")).to_contain_text("published")
    assert get_json(dash_hub.url + "/retained?event=porch/light")["retained"][0]["data"] == "on"
    show(page, "topics")
    expect(page.locator("#retained tbody tr", has_text="porch/light")).to_contain_text('"on"')
    expect(page.locator("#retained tbody tr", has_text="stat/tasmota_4A1B2C/POWER")).to_contain_text('"ON"')

    clients.send_json(sensor, {"action": "publish", "event": "porch/temp", "data": None,
                               "retain": True, "id": 2})
    assert clients.read_json(sensor) == {"action": "ack", "id": 2}
    expect(value).to_have_count(0)
    plug.close()
