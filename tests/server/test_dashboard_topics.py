"""The dashboard's topic tree in chromium against a real hub: levels as
folders, each event's last value and rate from GET /topics, opened folders
remembered, and no subscription to "#" for it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.browser import ClientLoop, browser_fixture, clients_fixture, http_publish  # noqa: F401
from tests.support.dashboard import KEY, dash_hub_fixture, get_json, log_in, show, tab_fixture  # noqa: F401


def test_the_tree_of_topics_with_values_rates_and_what_is_retained(tab, dash_hub, clients: ClientLoop) -> None:
    for event, data, retain in (("tele/tasmota_4A1B2C/SENSOR", {"ENERGY": {"Power": 12.5}}, False),
                                ("tele/tasmota_4A1B2C/STATE", {"POWER": "ON"}, False),
                                ("stat/tasmota_4A1B2C/POWER", "ON", True),
                                ("kitchen/temp", 21.5, False),
                                ("big/blob", "x" * 5000, False)):
        assert http_publish(dash_hub.url, KEY, event, data, retain=retain) == 201
    topics = get_json(dash_hub.url + "/topics")["topics"]
    assert [t["event"] for t in topics] == sorted(t["event"] for t in topics)
    page = tab()
    log_in(page, dash_hub.url, view="topics")
    tree = page.locator("#topic-tree")
    expect(tree.locator(":scope > li > .line > .twisty")).to_have_text(["big", "kitchen", "stat", "tele"])
    expect(page.locator("#topics-count")).to_have_text(f"{len(topics)} events")
    tele = tree.locator("li[data-path='tele']")
    expect(tele.locator(":scope > .line .summary")).to_contain_text("2 topics")
    expect(tele.locator("li")).to_have_count(0)  # folders start closed
    tele.locator(":scope > .line .twisty").click()
    plug = tree.locator("li[data-path='tele/tasmota_4A1B2C']")
    plug.locator(":scope > .line .twisty").click()
    sensor = tree.locator("li[data-event='tele/tasmota_4A1B2C/SENSOR']")
    expect(sensor.locator(".leaf")).to_have_text("SENSOR")
    expect(sensor.locator(".value")).to_have_text('{"ENERGY":{"Power":12.5}}')
    expect(sensor.locator(".rate")).to_contain_text("/s")
    expect(sensor.locator(".badge")).to_have_count(0)

    tree.locator("li[data-path='stat'] > .line .twisty").click()
    tree.locator("li[data-path='stat/tasmota_4A1B2C'] > .line .twisty").click()
    power = tree.locator("li[data-event='stat/tasmota_4A1B2C/POWER']")
    expect(power.locator(".value")).to_have_text('"ON"')
    expect(power.locator(".badge")).to_have_text("retained")
    tree.locator("li[data-path='big'] > .line .twisty").click()
    expect(tree.locator("li[data-event='big/blob'] .value")).to_contain_text("bytes, not shown")
    # Recorded events open on a chart.
    tree.locator("li[data-path='kitchen'] > .line .twisty").click()
    temp = tree.locator("li[data-event='kitchen/temp']")
    expect(temp.locator("a.chart-link")).to_have_attribute("href", "#chart?e=kitchen%2Ftemp")

    # A new message shows at the next poll; opened folders stay open, across a reload too.
    assert http_publish(dash_hub.url, KEY, "tele/tasmota_4A1B2C/SENSOR", {"ENERGY": {"Power": 13}}) == 201
    expect(sensor.locator(".value")).to_have_text('{"ENERGY":{"Power":13}}')
    page.reload()
    expect(sensor.locator(".value")).to_be_visible()

    # Watch: the event goes to the live tail.
    sensor.locator("button.watch").click()
    expect(page.locator("#view-live")).to_be_visible()
    expect(page.locator("#watched li")).to_contain_text(["tele/tasmota_4A1B2C/SENSOR"])
    # The tree came from GET /topics: the page subscribes to no wildcard of everything.
    info = clients.connect(f"{dash_hub.ws_url}/info", KEY)
    for _ in range(50):  # snapshots every 0.2 s, until the watch is in one
        mine = [s["name"] for s in clients.read_json(info)["subscriptions"]
                if any(c["client_name"].startswith("dashboard-") for c in s["connections"])]
        if "tele/tasmota_4A1B2C/SENSOR" in mine:
            break
    assert "tele/tasmota_4A1B2C/SENSOR" in mine and "#" not in mine
    show(page, "topics")
