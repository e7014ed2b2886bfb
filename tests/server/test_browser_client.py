"""``/picloud.js`` in Debian's chromium, loaded by a page of another origin,
against a real ``picloud serve``."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import Page

from tests.support.browser import (  # noqa: F401 (fixtures)
    ClientLoop,
    browser_fixture,
    clients_fixture,
    http_publish,
    page_fixture,
    wait_for_subscriber,
)

KEY = "browser-client-key"


def wait_for_published(url: str, count: int, timeout: float = 10) -> int:
    """The hub's publish counter once it reaches ``count``. Nothing in the
    test can await the browser's queued publish, so this polls."""
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(f"{url}/stats", headers={"X-API-Key": KEY})
        with urllib.request.urlopen(request, timeout=5) as response:
            published = json.load(response)["published"]
        if published >= count or time.monotonic() > deadline:
            return published
        time.sleep(0.05)


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY, "--info-interval", "0.2")


def load_client(page: Page, hub) -> None:
    # A page of its own (about:blank) that includes the hub's script, as a
    # user's page would.
    page.set_content(f'<script src="{hub.url}/picloud.js"></script>')
    page.evaluate("""({url, key}) => {
        window.hubUrl = url;
        window.hubKey = key;
        window.received = [];
    }""", {"url": hub.ws_url, "key": KEY})


def test_old_api_round_trip_with_any_json_value(page: Page, hub, clients: ClientLoop) -> None:
    load_client(page, hub)
    info = clients.connect(f"{hub.ws_url}/info", KEY)
    listener = clients.connect(f"{hub.ws_url}/subscribe?clientName=listener", KEY)
    clients.send_json(listener, {"action": "subscribe", "event": "from-browser"})

    # Written the way pages using the original client are, callbacks and all.
    page.evaluate("""() => new Promise((resolve) => {
        window.picloud = new PiCloudSocketClient(hubUrl, hubKey, "browser-page");
        picloud.subReady(function () {
            picloud.subscribe("readings", function (message) { received.push(message); });
            resolve();
        });
    })""")
    wait_for_subscriber(clients, info, "readings", "browser-page")
    for value in ["21.5", 21.5, {"celsius": [21.5, 22]}, None]:
        assert http_publish(hub.url, KEY, "readings", value) == 201
    page.wait_for_function("received.length === 4")
    received = page.evaluate("received")
    assert [m["data"] for m in received] == ["21.5", 21.5, {"celsius": [21.5, 22]}, None]
    assert set(received[0]) == {"action", "event", "data", "created_at", "seq", "epoch"}
    assert received[0]["event"] == "readings"

    wait_for_subscriber(clients, info, "from-browser", "listener")
    page.evaluate("""() => new Promise((resolve) => picloud.pubReady(function () {
        picloud.publish("from-browser", 42);
        picloud.publish("from-browser", {on: true, level: [1, 2]});
        picloud.publish("from-browser", "text");
        resolve();
    }))""")
    assert [clients.read_json(listener)["data"] for _ in range(3)] == [
        42, {"on": True, "level": [1, 2]}, "text"
    ]

    # The hub's error replies reach the page instead of vanishing.
    error = page.evaluate("""() => new Promise((resolve) => {
        picloud.onerror = resolve;
        picloud.publish("", 1);
    })""")
    assert error["action"] == "error" and "event" in error["error"]


def test_promise_api(page: Page, hub, clients: ClientLoop) -> None:
    load_client(page, hub)
    info = clients.connect(f"{hub.ws_url}/info", KEY)
    page.evaluate("""async () => {
        window.hub = await PiCloudClient.connect(hubUrl, hubKey, "promise-page");
        await hub.subscribe("p", (message) => received.push(message.data));
    }""")
    wait_for_subscriber(clients, info, "p", "promise-page")
    data = page.evaluate("""async () => {
        const next = hub.next("p");
        await hub.publish("p", {n: 1});
        return (await next).data;
    }""")
    assert data == {"n": 1}
    assert page.evaluate("received") == [{"n": 1}]
    error = page.evaluate("hub.next('never-subscribed').then(() => 'resolved', (e) => e.message)")
    assert error == 'not subscribed to "never-subscribed"'


def test_reconnects_and_resubscribes_after_hub_restart(
    page: Page, hub, hub_process, clients: ClientLoop
) -> None:
    load_client(page, hub)
    page.evaluate("""() => new Promise((resolve) => {
        window.states = [];
        window.picloud = new PiCloudSocketClient(hubUrl, hubKey, "restart-page",
                                                 {minDelay: 100, maxDelay: 400});
        window.gaps = [];
        picloud.onstate = (socket, state) => states.push(socket + ":" + state);
        picloud.ongap = (frame) => gaps.push(frame);
        picloud.subscribe("t", (message) => received.push(message.data));
        picloud.subReady(resolve);
    })""")
    info = clients.connect(f"{hub.ws_url}/info", KEY)
    wait_for_subscriber(clients, info, "t", "restart-page")
    assert http_publish(hub.url, KEY, "t", 1, retain=True) == 201
    page.wait_for_function("received.length === 1")

    hub.stop()
    page.wait_for_function("states.includes('subscribe:reconnecting')")
    # Published while the hub is away: kept, and sent once it is back.
    assert page.evaluate("picloud.publish('t', 'while-away')") is False
    again = hub_process("--api-key", KEY, "--info-interval", "0.2", "--port", str(hub.port))
    info = clients.connect(f"{again.ws_url}/info", KEY)
    wait_for_subscriber(clients, info, "t", "restart-page")
    assert http_publish(again.url, KEY, "t", {"after": "restart"}) == 201
    # The queued message went out on the publish socket's reconnect. The page
    # gets it either live or, if its subscription came back later, replayed
    # from the hub's history (its "since" names the old epoch: all kept).
    # The retained 1 comes back from the restarted hub's disk: not repeated.
    page.wait_for_function("received.length === 3")
    assert wait_for_published(again.url, 2) == 2
    assert http_publish(again.url, KEY, "t", "end") == 201
    page.wait_for_function("received[received.length - 1] === 'end'")
    received = page.evaluate("received")
    assert received[0] == 1 and received[-1] == "end"
    assert sorted(map(str, received[1:-1])) == ["while-away", "{'after': 'restart'}"]
    # The hub restarted without its history: the resume says so.
    gaps = page.evaluate("gaps")
    assert [(g["event"], g["recovered"]) for g in gaps] == [("t", False)]
    assert page.evaluate("states.filter((s) => s === 'subscribe:open').length") == 2
