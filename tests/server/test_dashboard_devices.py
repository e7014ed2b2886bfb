"""The dashboard's devices view in chromium against a real hub: online and
offline with when they were seen, what each publishes and subscribes to,
offline ones collapsed and drawn a page at a time, a thousand offline names
left by real clients, and an admin forgetting a device."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import expect

from tests.support.browser import ClientLoop, browser_fixture, clients_fixture, http_publish  # noqa: F401
from tests.support.dashboard import (  # noqa: F401 (fixtures)
    HUB_ARGS,
    KEY,
    dash_hub_fixture,
    get_json,
    leave_offline_names,
    log_in,
    show,
    tab_fixture,
    wait_offline,
)

OFFLINE = 1000  # as many offline names as the hub keeps (hub/presence.py MAX_OFFLINE)
# The longest task the page's main thread ran since the observer started, in ms.
WATCH_LONG_TASKS = """() => {
    window.longest = 0;
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) { window.longest = Math.max(window.longest, entry.duration); }
    }).observe({type: "longtask"});
}"""


def test_online_offline_what_they_publish_and_subscribe_to(tab, dash_hub, clients: ClientLoop) -> None:
    plug = clients.connect(f"{dash_hub.ws_url}/subscribe?clientName=DVES_4A1B2C", KEY)
    clients.send_json(plug, {"action": "subscribe", "event": "cmnd/tasmota_4A1B2C/POWER"})
    assert http_publish(dash_hub.url, KEY, "tele/tasmota_4A1B2C/SENSOR", {"ENERGY": {"Power": 12}}) == 201
    assert http_publish(dash_hub.url, KEY, "kitchen/temp", 21.5) == 201
    page = tab()
    log_in(page, dash_hub.url, view="devices")
    row = page.locator("#devices tbody tr", has_text="DVES_4A1B2C")
    expect(row).to_contain_text("online")
    expect(row).to_contain_text("since ")
    # The names say it: the plug's id is in the topics it publishes.
    expect(row.locator("td.what")).to_contain_text("publishes tele/tasmota_4A1B2C/SENSOR")
    expect(row.locator("td.what")).not_to_contain_text("kitchen/temp")
    expect(row.locator("td.what")).to_contain_text("subscribes to cmnd/tasmota_4A1B2C/POWER")
    expect(row.locator("td.what")).to_contain_text("websocket from 127.0.0.1")
    expect(page.locator("#devices tbody tr.own")).to_contain_text("online")

    clients.loop.call_soon_threadsafe(plug.close)
    expect(row).to_have_count(0)
    expect(page.locator("#n-offline")).to_have_text("1")  # HTTP publishers are no devices
    # Offline devices are collapsed until asked for.
    offline = page.locator("#offline-devices tbody tr", has_text="DVES_4A1B2C")
    expect(offline).to_have_count(0)
    page.click("#offline-section summary")
    expect(offline).to_contain_text("offline")
    expect(offline).to_contain_text("last seen ")
    expect(offline.locator("td.what")).to_contain_text("tele/tasmota_4A1B2C/SENSOR")
    page.fill("#device-filter", "dves")
    expect(page.locator("#offline-devices tbody tr")).to_have_count(1)
    expect(page.locator("#devices tbody tr")).to_have_count(0)  # the page's own does not match


def test_a_connected_device_shows_within_2_s_among_a_thousand_offline_names(
        tab, dash_hub, clients: ClientLoop) -> None:
    names = [f"script-{i:04}" for i in range(OFFLINE)]
    leave_offline_names(clients, dash_hub.port, names)
    wait_offline(dash_hub.url, names)
    clients.connect(f"{dash_hub.ws_url}/subscribe?clientName=kitchen-sensor", KEY)
    page = tab()
    page.goto(dash_hub.url + "/#devices")
    page.fill("#api-key", KEY)
    started = time.monotonic()
    page.click("#login-form button[type=submit]")
    expect(page.locator("#devices tbody tr", has_text="kitchen-sensor")).to_contain_text("online", timeout=2_000)
    shown = time.monotonic() - started
    assert shown < 2.0, shown
    # The hub keeps at most 1,000 offline names: the page's own may have pushed the oldest out.
    expect(page.locator("#n-offline")).to_have_text(str(OFFLINE))
    assert page.locator("#offline-devices tbody tr").count() == 0  # collapsed: none drawn
    page.click("#offline-section summary")
    expect(page.locator("#offline-devices tbody tr")).to_have_count(50)
    page.click("#more-offline")
    expect(page.locator("#offline-devices tbody tr")).to_have_count(100)

    # A burst of presence changes is drawn once a frame, not once a message.
    page.evaluate(WATCH_LONG_TASKS)
    renders = page.evaluate("() => window.PiCloudDash.renders")
    burst = [f"burst-{i:03}" for i in range(300)]
    leave_offline_names(clients, dash_hub.port, burst)
    expect(page.locator("#offline-devices tbody tr").first).to_contain_text("burst-")
    longest = page.evaluate("() => window.longest")
    drawn = page.evaluate("() => window.PiCloudDash.renders") - renders
    # Limits with room for a loaded machine: a render per message would be 600.
    assert longest < 500, f"a task of {longest} ms"
    assert drawn < 60, f"{drawn} renders for {2 * len(burst)} presence messages"


def test_an_admin_key_forgets_an_offline_device(tab, hub_process, tmp_path: Path, clients: ClientLoop) -> None:
    watcher = "sub-key-0123456789ab"
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\n{watcher} subscribe\n")
    hub = hub_process("--keys-file", str(keys), *HUB_ARGS[2:])
    leave_offline_names(clients, hub.port, ["old-sensor"])
    online = clients.connect(f"{hub.ws_url}/subscribe?clientName=porch-sensor", KEY)
    page = tab()
    log_in(page, hub.url, view="devices")
    page.click("#offline-section summary")
    gone = page.locator("#offline-devices tbody tr", has_text="old-sensor")
    # Only what is offline may be forgotten.
    expect(page.locator("#devices tbody tr", has_text="porch-sensor").locator("button.forget")).to_have_count(0)
    gone.locator("button.forget").click()
    expect(page.locator("#devices-result")).to_have_text("forgot old-sensor")
    expect(gone).to_have_count(0)
    presence = get_json(f"{hub.url}/retained?event=%24SYS/clients/old-sensor")["retained"]
    assert presence == []
    clients.loop.call_soon_threadsafe(online.close)

    # A key that may only watch is not offered the button.
    other = tab()
    log_in(other, hub.url, key=watcher, view="devices")
    other.click("#offline-section summary")
    expect(other.locator("#offline-devices tbody tr", has_text="porch-sensor")).to_be_visible()
    expect(other.locator("button.forget")).to_have_count(0)
