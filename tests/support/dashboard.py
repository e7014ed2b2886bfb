"""What the dashboard's tests share (tests/server/test_dashboard*.py): a hub
that records quickly, tabs of chromium at a given size and colour scheme
whose errors fail the test (exceptions, and what the page's Content
Security Policy refused), logging in, offline names left by real clients,
and readings of days past written as the hub writes them."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.aioraw import AioRaw
from tests.support.browser import TIMEOUT_MS, ClientLoop
from tests.support.hub import MANY_AT_ONCE
from tests.support.process import HubProcess

KEY = "dashboard-test-key"  # 18 characters
#: A hub for the dashboard: info pushed every 0.2 s, readings written every 0.1 s.
HUB_ARGS = ("--api-key", KEY, "--info-interval", "0.2", "--store-interval", "0.1", *MANY_AT_ONCE)


@pytest.fixture(name="dash_hub")
def dash_hub_fixture(hub_process):
    return hub_process(*HUB_ARGS)


@pytest.fixture(name="shared_hub", scope="module")
def shared_hub_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One hub for the tests of a module that leave nothing behind that the others see."""
    hub = HubProcess(["--state-dir", str(tmp_path_factory.mktemp("state")), *HUB_ARGS])
    yield hub
    hub.stop()


@pytest.fixture(name="tab")
def tab_fixture(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``tab(width=1280, height=900, color_scheme="light")``: a fresh tab (its
    own sessionStorage and localStorage) whose page errors and CSP refusals
    fail the test."""
    contexts = []
    errors: list[str] = []

    def open_tab(width: int = 1280, height: int = 900, color_scheme: str = "light") -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=color_scheme,
                                      accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        return page

    yield open_tab
    for context in contexts:
        context.close()
    assert not errors, errors


def log_in(page: Page, url: str, key: str = KEY, view: str = "") -> None:
    page.goto(url + "/" + (f"#{view}" if view else ""))
    page.fill("#api-key", key)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text("live")


def show(page: Page, view: str) -> None:
    """Switch to a view as a person does, by its tab."""
    page.click(f"#tabs a[href='#{view}']")
    expect(page.locator(f"#view-{view}")).to_be_visible()


def get_json(url: str, key: str = KEY) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def leave_offline_names(clients: ClientLoop, port: int, names: list[str], key: str = KEY,
                        at_once: int = 100) -> None:
    """Each name connects over a real websocket and leaves (cleanly), ``at_once``
    at a time, so the hub's presence holds them as offline names. On the
    clients' loop: Playwright's sync API holds this thread's."""

    async def one(name: str) -> None:
        conn = await AioRaw.open(port, f"/publish?clientName={name}", key)
        await conn.close_cleanly()

    async def run() -> None:
        for start in range(0, len(names), at_once):
            await asyncio.gather(*(one(name) for name in names[start:start + at_once]))

    clients.run(run(), timeout=120)


def hold_devices(clients: ClientLoop, port: int, names: list[str], key: str = KEY) -> list[AioRaw]:
    """A websocket subscriber per name, connected until the test ends."""

    async def run() -> list[AioRaw]:
        return list(await asyncio.gather(*(AioRaw.open(port, f"/subscribe?clientName={name}", key)
                                           for name in names)))

    return clients.run(run(), timeout=60)


def publish_batch(url: str, messages: list[dict[str, Any]], key: str = KEY) -> None:
    """One POST /publish of a batch of messages."""
    request = urllib.request.Request(f"{url}/publish", data=json.dumps(messages).encode(), method="POST",
                                     headers={"X-API-Key": key, "X-API-Client-Name": "seed",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def wait_offline(url: str, names: list[str], key: str = KEY) -> None:
    """Until the hub's presence says every one of ``names`` is offline."""
    wanted = {f"$SYS/clients/{name}" for name in names}
    for _ in range(200):
        frames = get_json(f"{url}/retained?event=%24SYS/clients/%2B", key)["retained"]
        offline = {f["event"] for f in frames if f["data"] and not f["data"]["online"]}
        if wanted <= offline:
            return
        time.sleep(0.05)  # the next poll of the hub's answer
    raise AssertionError(f"{len(wanted - offline)} names not offline")


def write_history(state_dir: Path, entries: list[tuple[float, str, Any]]) -> None:
    """Readings of times past, written into the hub's database by the code the
    hub records with (before the hub starts on that state directory)."""
    from tests.stores.sqlite.support import Recorded

    state_dir.mkdir(parents=True, exist_ok=True)
    store = Recorded(state_dir)
    for start in range(0, len(entries), 5000):
        store.record(*entries[start:start + 5000])
    store.close()
