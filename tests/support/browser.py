"""Helpers for the tests that drive Debian's chromium with Playwright.

A test module imports the fixtures it uses (``browser_fixture`` is the
``browser`` fixture, and so on).

Playwright's sync API runs in the test's own thread, so these tests are plain
functions, not pytest-tornado coroutines; the Python websocket clients a test
needs run on an event loop in a thread of their own (``ClientLoop``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
TIMEOUT_MS = 10_000

T = TypeVar("T")


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(name="page")
def page_fixture(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own sessionStorage); its console errors fail the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, errors


class ClientLoop:
    """An asyncio loop in a thread, for Python websocket clients that stay
    open while the browser is being driven."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self, url: str, key: str) -> WebSocketClientConnection:
        request = HTTPRequest(url, headers={"X-API-Key": key})
        return self.run(_connect(request))

    def send_json(self, conn: WebSocketClientConnection, value: Any) -> None:
        async def send() -> None:
            await conn.write_message(json.dumps(value))

        self.run(send())

    def read_json(self, conn: WebSocketClientConnection) -> Any:
        async def read() -> str | bytes | None:
            return await conn.read_message()

        text = self.run(read())
        assert text is not None, "connection closed"
        return json.loads(text)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


async def _connect(request: HTTPRequest) -> WebSocketClientConnection:
    return await websocket_connect(request)


@pytest.fixture(name="clients")
def clients_fixture() -> Iterator[ClientLoop]:
    loop = ClientLoop()
    yield loop
    loop.close()


def http_publish(base_url: str, key: str, event: str, data: Any, retain: bool = False) -> int:
    body = json.dumps({"event": event, "data": data, **({"retain": True} if retain else {})}).encode()
    request = urllib.request.Request(
        f"{base_url}/publish", data=body, method="POST",
        headers={"X-API-Key": key, "X-API-Client-Name": "test", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for_subscriber(loop: ClientLoop, info: WebSocketClientConnection, event: str, name: str) -> None:
    """Read /info snapshots until ``name`` is subscribed to ``event``, so a
    message published next reaches it."""
    while True:
        snapshot = loop.read_json(info)
        for subscription in snapshot["subscriptions"]:
            if subscription["name"] == event and any(
                c["client_name"] == name for c in subscription["connections"]
            ):
                return
