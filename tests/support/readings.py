"""Reading back what a hub recorded (``GET /readings``, ``/readings/events``),
and waiting for a store interval's write: polled, with a deadline, since the
write happens in the hub's own time."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.hub import KEY

#: Seconds a write may take to show: many store intervals, even on a slow Pi.
DEADLINE = 10.0


def counts(listing: dict[str, Any]) -> dict[str, int]:
    """Messages recorded, by event, from ``/readings/events``."""
    return {entry["event"]: entry["count"] for entry in listing["events"]}


async def fetch(url: str, path: str, key: str | None = KEY) -> tuple[int, Any, Any]:
    """Status, JSON body (or text, for CSV) and headers of ``GET url+path``."""
    headers = {"X-API-Key": key} if key is not None else {}
    response = await AsyncHTTPClient().fetch(HTTPRequest(f"{url}{path}", headers=headers), raise_error=False)
    text = (response.body or b"").decode("utf-8")
    kind = response.headers.get("Content-Type", "")
    return response.code, json.loads(text) if kind.startswith("application/json") else text, response.headers


async def recorded(url: str, event: str, count: int = 1, key: str = KEY) -> dict[str, Any]:
    """Wait until ``count`` messages of ``event`` are in the hub's database;
    its ``/readings`` then."""
    deadline = time.monotonic() + DEADLINE
    while True:
        status, listing, _ = await fetch(url, "/readings/events", key)
        assert status == 200, listing
        if counts(listing).get(event, 0) >= count:
            status, found, _ = await fetch(url, f"/readings?event={quote(event)}", key)
            assert status == 200, found
            return found
        assert time.monotonic() < deadline, f"{event!r} not recorded {count} times: {counts(listing)}"
        await asyncio.sleep(0.02)


def get(url: str, path: str, key: str = KEY) -> tuple[int, Any]:
    """``fetch`` for tests outside a loop (hub processes, the command line)."""
    request = urllib.request.Request(f"{url}{path}", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_recorded(url: str, event: str, count: int = 1, key: str = KEY) -> dict[str, Any]:
    """``recorded`` for tests outside a loop."""
    deadline = time.monotonic() + DEADLINE
    while True:
        status, listing = get(url, "/readings/events", key)
        assert status == 200, listing
        if counts(listing).get(event, 0) >= count:
            status, found = get(url, f"/readings?event={quote(event)}", key)
            assert status == 200, found
            return found
        assert time.monotonic() < deadline, f"{event!r} not recorded {count} times: {counts(listing)}"
        time.sleep(0.02)


def values(found: dict[str, Any]) -> dict[str, list[float]]:
    """A raw answer's values, by field."""
    return {series["field"]: series["value"] for series in found["series"]}
